from shared import ClientIpResolver, parse_networks


def test_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    resolver = ClientIpResolver()
    assert resolver.resolve("127.0.0.9", "203.0.113.7") == "127.0.0.9"


def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    resolver = ClientIpResolver(parse_networks("10.0.0.0/8"))
    assert resolver.resolve("192.0.2.1", "203.0.113.7") == "192.0.2.1"


def test_walks_from_the_right_past_trusted_hops() -> None:
    resolver = ClientIpResolver(parse_networks("10.0.0.0/8, 127.0.0.1"))
    # The client forged the leftmost entry; the first untrusted hop from the right wins.
    chain = "198.51.100.1, 203.0.113.7, 10.1.2.3"
    assert resolver.resolve("127.0.0.1", chain) == "203.0.113.7"


def test_garbage_hop_stops_the_walk() -> None:
    resolver = ClientIpResolver(parse_networks("10.0.0.0/8"))
    assert resolver.resolve("10.0.0.1", "evil, 10.0.0.2") == "10.0.0.2"
    assert resolver.resolve("10.0.0.1", "not-an-ip") == "10.0.0.1"


def test_remembered_verdicts_stay_right_and_bounded() -> None:
    """The resolver remembers each address's verdict; however many distinct addresses
    clients send, what it keeps is bounded and every answer is what parsing would give."""
    resolver = ClientIpResolver(parse_networks("10.0.0.0/8"))
    for round_ in range(2):  # the second round answers from what the first remembered
        for i in range(70_000):
            client = f"198.{i % 200}.{i // 200 % 250}.{round_ + 1}"
            assert resolver.resolve("10.0.0.1", f"{client}, 10.0.0.7") == client
        assert resolver.resolve("10.0.0.1", "junk, 10.9.9.9") == "10.9.9.9"
        assert resolver.resolve("192.0.2.1", "203.0.113.7") == "192.0.2.1"
    assert len(resolver._verdicts) <= 65536
