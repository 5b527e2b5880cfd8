"""Which webhook URLs we call."""

import pytest

from orderledger.automation.target_policy import TargetRefused, refused_address, resolve_target


def resolver(*addresses: str):
    return lambda host, port: list(addresses)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                                     "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1",
                                     "100.64.0.1"])
def test_loopback_private_link_local_multicast_and_unspecified_addresses_are_refused(address):
    assert refused_address(address) is not None


def test_public_addresses_are_called():
    assert refused_address("93.184.216.34") is None and refused_address("2606:2800:220:1::1") is None


def test_a_name_resolving_to_any_private_address_is_refused():
    with pytest.raises(TargetRefused, match="private"):
        resolve_target("https://hooks.example.com/x", False, resolver("93.184.216.34", "10.0.0.5"))


def test_https_to_a_public_address_is_accepted_with_the_checked_addresses():
    target = resolve_target("https://hooks.example.com:8443/in?x=1", False, resolver("93.184.216.34"))
    assert (target.host, target.port, target.addresses) == ("hooks.example.com", 8443, ("93.184.216.34",))


@pytest.mark.parametrize("url", ["http://hooks.example.com/", "ftp://hooks.example.com/", "hooks.example.com",
                                 "https://user:pw@hooks.example.com/", "https:///nohost", "https://[::1/"])
def test_malformed_or_plain_http_urls_are_refused(url):
    with pytest.raises(TargetRefused):
        resolve_target(url, False, resolver("93.184.216.34"))


def test_allow_private_lets_local_development_use_http_and_loopback():
    target = resolve_target("http://127.0.0.1:9999/hook", True, resolver("127.0.0.1"))
    assert target.scheme == "http" and target.port == 9999


def test_a_name_that_does_not_resolve_is_refused():
    def failing(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(TargetRefused, match="does not resolve"):
        resolve_target("https://nowhere.invalid/", False, failing)
