"""Partner-loader hardening (issue #11): authentication before a large body is parsed, item
errors capped in answers, stored reports and admin pages, no apiKey in stored sources, and no
IPv6 disguise of a loopback address past the document-fetch policy."""

from __future__ import annotations

import ipaddress

import pytest

from guichet.partners import fetch

LIMIT = 1024 * 1024


class TestFetchPolicy:
    @pytest.mark.parametrize(
        "address",
        [
            "::127.0.0.1",  # IPv4-compatible
            "64:ff9b::7f00:1",  # NAT64 well-known prefix
            "64:ff9b:1::7f00:1",  # NAT64 local-use prefix
            "::ffff:127.0.0.1",  # IPv4-mapped
            "2002:7f00:1::",  # 6to4
            "2002:a00:1::",  # 6to4 of 10.0.0.1
            "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        ],
    )
    async def test_ipv6_forms_of_a_non_public_ipv4_are_refused(self, address: str) -> None:
        assert not fetch.is_public(ipaddress.ip_address(address))
        policy = fetch.FetchPolicy(LIMIT, 2, 2, 5)
        with pytest.raises(fetch.FetchRefused, match="non-public"):
            await fetch.resolve(address, 80, policy)

    @pytest.mark.parametrize("address", ["2002:808:808::", "64:ff9b::808:808", "2a00:1450::1"])
    def test_ipv6_forms_of_a_public_ipv4_stay_allowed(self, address: str) -> None:
        assert fetch.is_public(ipaddress.ip_address(address))
