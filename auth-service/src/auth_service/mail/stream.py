"""The outbox stream's scripts (each runs in the stream's slot: atomic) and the parsing of
its entries, for the sender (auth_service.mail.worker)."""

# KEYS: stream, attempts. ARGV: group, id. Sent: forget the entry.
ACK = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
return 1
"""
# KEYS: stream, attempts, dead. ARGV: group, id, maxlen, then the dead entry's fields.
DEAD_LETTER = """
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
return 1
"""
# KEYS: stream. ARGV: group, consumer, id. Reset the entry's idle time if we still own it.
TOUCH = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
"""

Entry = tuple[str, dict[str, str]]


def text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_entries(reply: object) -> list[Entry]:
    """[[id, [field, value, ...]], ...] -> [(id, {field: value})]; deleted entries dropped."""
    found: list[Entry] = []
    for item in reply if isinstance(reply, list) else []:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[1], list):
            flat = [text(v) for v in item[1]]
            found.append((text(item[0]), dict(zip(flat[::2], flat[1::2], strict=False))))
    return found
