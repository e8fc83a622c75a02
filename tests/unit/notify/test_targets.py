"""Channel targets: every SSRF form is refused with the code naming why; public https targets pass."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from services.notify import errors
from services.notify.targets import Target, TargetPolicy, check_target

PRODUCTION = TargetPolicy(https_only=True, allow_private=False)
LOCAL_PRIVATE = TargetPolicy(https_only=False, allow_private=True)

DNS = {
    "erp.example.com": ["93.184.215.14"],
    "v6.example.com": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "inside.example.com": ["10.1.2.3"],
    "rebind.example.com": ["93.184.215.14", "127.0.0.1"],
    "meta.example.com": ["169.254.169.254"],
    "loop6.example.com": ["::1"],
    "mapped.example.com": ["::ffff:192.168.0.1"],
}


async def fake_resolver(host: str, port: int) -> Sequence[str]:
    if host not in DNS:
        raise OSError(f"no such host {host}")
    return DNS[host]


async def check(url: str, policy: TargetPolicy = PRODUCTION) -> Target:
    return await check_target(url, policy, resolve=fake_resolver)


async def test_a_public_https_target_passes_with_its_checked_addresses():
    target = await check("https://erp.example.com/hooks/disputes?x=1")
    assert target.addresses == ("93.184.215.14",) and target.port == 443 and target.host == "erp.example.com"
    assert target.pinned_url() == "https://93.184.215.14/hooks/disputes?x=1"


async def test_an_ipv6_target_is_pinned_in_brackets():
    target = await check("https://v6.example.com:8443/h")
    assert target.pinned_url() == "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8443/h"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://erp.example.com/h", errors.TargetHttpsRequired),
        ("ftp://erp.example.com/h", errors.TargetMalformed),
        ("https:///nohost", errors.TargetMalformed),
        ("https://erp.example.com:99999/h", errors.TargetMalformed),
        ("https://erp.example.com /h", errors.TargetMalformed),
        ("https://erp.example.com\\@127.0.0.1/", errors.TargetMalformed),
        ("https://127.0.0.1/h", errors.TargetLoopback),
        ("https://127.8.9.10/h", errors.TargetLoopback),
        ("https://localhost/h", errors.TargetLoopback),
        ("https://LOCALHOST./h", errors.TargetLoopback),
        ("https://app.localhost/h", errors.TargetLoopback),
        ("https://[::1]/h", errors.TargetLoopback),
        ("https://[0:0:0:0:0:0:0:1]/h", errors.TargetLoopback),
        ("https://[::ffff:127.0.0.1]/h", errors.TargetLoopback),
        ("https://[::ffff:7f00:1]/h", errors.TargetLoopback),
        ("https://[::127.0.0.1]/h", errors.TargetLoopback),
        ("https://[2002:7f00:1::]/h", errors.TargetLoopback),
        ("https://[64:ff9b::10.0.0.1]/h", errors.TargetPrivateAddress),
        ("https://2130706433/h", errors.TargetLoopback),
        ("https://0x7f000001/h", errors.TargetLoopback),
        ("https://0177.0.0.1/h", errors.TargetLoopback),
        ("https://0x7f.1/h", errors.TargetLoopback),
        ("https://127.1/h", errors.TargetLoopback),
        ("https://017700000001/h", errors.TargetLoopback),
        ("https://10.0.0.8/h", errors.TargetPrivateAddress),
        ("https://172.16.5.4/h", errors.TargetPrivateAddress),
        ("https://192.168.1.1/h", errors.TargetPrivateAddress),
        ("https://[fd12:3456::1]/h", errors.TargetPrivateAddress),
        ("https://[::ffff:10.0.0.1]/h", errors.TargetPrivateAddress),
        ("https://169.254.1.1/h", errors.TargetLinkLocal),
        ("https://[fe80::1]/h", errors.TargetLinkLocal),
        ("https://[fe80::1%25eth0]/h", errors.TargetLinkLocal),
        ("https://224.0.0.1/h", errors.TargetMulticast),
        ("https://[ff02::1]/h", errors.TargetMulticast),
        ("https://0.0.0.0/h", errors.TargetUnspecified),
        ("https://0/h", errors.TargetUnspecified),
        ("https://[::]/h", errors.TargetUnspecified),
        ("https://100.64.0.1/h", errors.TargetNotPublic),
        ("https://192.0.2.10/h", errors.TargetPrivateAddress),
        ("https://240.0.0.1/h", errors.TargetPrivateAddress),
        ("https://inside.example.com/h", errors.TargetPrivateAddress),
        ("https://rebind.example.com/h", errors.TargetLoopback),
        ("https://loop6.example.com/h", errors.TargetLoopback),
        ("https://mapped.example.com/h", errors.TargetPrivateAddress),
        ("https://nowhere.example.com/h", errors.TargetUnresolvable),
        ("https://user:pw@127.0.0.1/h", errors.TargetLoopback),
        ("https://erp.example.com@127.0.0.1/h", errors.TargetLoopback),
    ],
)
async def test_an_ssrf_target_is_refused_with_its_reason(url, error):
    with pytest.raises(error) as refused:
        await check(url)
    assert type(refused.value) is error


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",
        "https://2852039166/latest/",
        "https://0xa9fea9fe/",
        "https://0251.0376.0251.0376/",
        "https://[::ffff:169.254.169.254]/",
        "https://[::ffff:a9fe:a9fe]/",
        "https://[fd00:ec2::254]/",
        "https://169.254.170.2/v2/credentials",
        "https://100.100.100.200/latest/meta-data/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://METADATA.GOOGLE.INTERNAL./computeMetadata/v1/",
        "https://meta.example.com/",
    ],
)
async def test_cloud_metadata_is_refused_even_with_private_targets_allowed(url):
    for policy in (PRODUCTION, LOCAL_PRIVATE) if url.startswith("https:") else (LOCAL_PRIVATE,):
        with pytest.raises(errors.TargetMetadataAddress):
            await check(url, policy)


async def test_local_runs_may_use_http_and_private_targets():
    target = await check("http://127.0.0.1:8080/sink", LOCAL_PRIVATE)
    assert target.addresses == ("127.0.0.1",) and target.port == 8080
    assert (await check("http://inside.example.com/h", LOCAL_PRIVATE)).addresses == ("10.1.2.3",)
    assert (await check("http://[::1]:9/h", LOCAL_PRIVATE)).pinned_url() == "http://[::1]:9/h"


async def test_http_alone_is_not_enough_for_private_targets():
    with pytest.raises(errors.TargetLoopback):
        await check("http://127.0.0.1:8080/sink", TargetPolicy(https_only=False, allow_private=False))


async def test_the_system_resolver_resolves_localhost_to_loopback():
    from services.notify.targets import system_resolver

    assert "127.0.0.1" in await system_resolver("localhost", 80) or "::1" in await system_resolver("localhost", 80)
    with pytest.raises(errors.TargetLoopback):
        await check_target("https://localhost./", PRODUCTION)
