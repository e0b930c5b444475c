"""How often the account flows may send mail: per client IP (the endpoints that mail any
address), and per address and kind (so nobody can flood one inbox).

    mail:{ip:<ip>}            string  mails asked for from that IP in the current window
    mail:{a:<A>}:<kind>       string  an address got a mail of `kind` less than the cooldown ago

A is a keyed hash of the normalised address (the keyspace holds no addresses). The address
check runs for every address asked about, with or without an account, so its outcome tells
nothing; a mail it holds back is simply not sent (the caller still answers 202). The IP
limit answers 429: it depends only on the caller."""

import hashlib
import hmac

from auth_service.device_tokens import derive_key
from auth_service.redis_store import RedisStore

# KEYS: counter. ARGV: limit, window_s. Reply: seconds to wait (0: allowed, counted).
# A refused request is not counted.
_IP = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 1 then ttl = 1 end
  return ttl
end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2])) end
return 0
"""


class MailThrottle:
    def __init__(self, store: RedisStore, *, secret: str, cooldown: int, ip_limit: int,
                 ip_window: int) -> None:
        self.store = store
        self._key = derive_key(secret, "mail-address")
        self.cooldown = cooldown
        self.ip_limit = ip_limit
        self.ip_window = ip_window
        self._ip = store.register_script(_IP)

    def address_key(self, email: str, kind: str) -> str:
        digest = hmac.new(self._key, email.encode(), hashlib.sha256).hexdigest()[:32]
        return f"mail:{{a:{digest}}}:{kind}"

    async def ip_wait(self, client_ip: str) -> int:
        """Seconds until `client_ip` may ask for mail again (0: now; this one counted)."""
        key = f"mail:{{ip:{client_ip}}}"
        wait = await self.store.run(
            lambda: self._ip(keys=[key], args=[self.ip_limit, self.ip_window]),
            what="mail_throttle_ip")
        return int(wait)

    async def address_allows(self, email: str, kind: str) -> bool:
        """Whether `email` may get a mail of `kind` now (and, if so, not again until the
        cooldown has passed)."""
        key = self.address_key(email, kind)
        reply = await self.store.execute(key, "SET", key, "1", "EX", self.cooldown, "NX",
                                         what="mail_throttle_address")
        return reply is not None
