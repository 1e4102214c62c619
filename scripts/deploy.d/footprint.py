"""The sidecar's footprint, as far as linkage shows it: vigil must not carry full Foundation,
FoundationInternationalization or the ICU data of _FoundationICU (tens of MB resident, for a
sidecar that needs none of it; FoundationEssentials alone is fine), and the binary `make release`
builds must carry its Swift runtime (--static-swift-stdlib), so that it runs without the toolchain.
Nor may it link libcurl: HTTPClient loads it (dlopen) only when a push target is configured, so
that an idle sidecar does not map libcurl and the TLS libraries it brings (about 5 MB resident).

ldd shows what a dynamically linked binary loads; a static one hides Foundation from ldd, so the
symbols are read too (nm): Swift mangles a module name with its length in front ($s10Foundation…,
$s30FoundationInternationalization…), and _FoundationICU's C functions are named swift_u….
RSS itself is measured by scripts/footprint (`make footprint`), never asserted: it depends on the
machine."""
import re

from support import run

FOUNDATION_LIBRARIES = re.compile(r"(^|[\s/])(libFoundation|libFoundationInternationalization|lib_FoundationICU|libFoundationNetworking|libFoundationXML)\.so")
FOUNDATION_SYMBOLS = re.compile(r"\$s10Foundation[0-9A-Z_]|\$s30FoundationInternationalization|\bswift_u(col|loc|cal|num|dat|text|str|set|norm|trans|regex|brk)_")
LIBCURL = re.compile(r"(^|[\s/])libcurl(-gnutls|-nss)?\.so")
SWIFT_RUNTIME = re.compile(r"(^|[\s/])libswift(Core|_Concurrency|Dispatch|_StringProcessing|Synchronization)\.so")


def ldd(vigil):
    result = run(["ldd", vigil])
    if result.returncode != 0:
        raise RuntimeError(f"ldd {vigil} failed: {result.stderr.strip()}")
    return result.stdout


def no_full_foundation_loaded(vigil):
    hits = [line.strip() for line in ldd(vigil).splitlines() if FOUNDATION_LIBRARIES.search(line)]
    return [f"{vigil} loads full Foundation or its ICU (ldd): " + "; ".join(hits) +
            ". Find the module that imports Foundation (grep -rn 'import Foundation' Sources .build/checkouts/*/Sources)"] if hits else []


def no_foundation_symbols(vigil):
    result = run(["nm", "--no-demangle", vigil], timeout=300)
    if result.returncode != 0 or not result.stdout:
        return [f"nm {vigil} listed no symbols: cannot tell ({result.stderr.strip()})"]
    symbols = (line.split()[-1] for line in result.stdout.splitlines() if line.strip())
    hits = sorted({symbol for symbol in symbols if FOUNDATION_SYMBOLS.search(symbol)})
    return [f"{vigil} refers to full Foundation or ICU symbols, for example: " + ", ".join(hits[:5])] if hits else []


def no_libcurl_linked(vigil):
    hits = [line.strip() for line in ldd(vigil).splitlines() if LIBCURL.search(line)]
    return [f"{vigil} links libcurl (ldd): " + "; ".join(hits) +
            ". Only CCurl may call libcurl, through the vigil_curl_* functions it resolves with dlsym; find what"
            " links it (a `link \"curl\"` module map, linkerSettings, a target calling curl_* directly)"] if hits else []


def swift_runtime_linked_in(vigil):
    hits = [line.strip() for line in ldd(vigil).splitlines() if SWIFT_RUNTIME.search(line)]
    return [f"{vigil} loads the Swift runtime from the toolchain: " + "; ".join(hits) +
            " (build it with `make release`: swift build -c release --static-swift-stdlib)"] if hits else []


def linked_for_a_small_rss(vigil):
    """`make release` links with lld, DT_RELR and --no-export-dynamic (the Makefile's
    RELEASE_LINK_FLAGS): 3 MB less resident, which a build without them silently gives back."""
    dynamic = run(["readelf", "-d", vigil])
    if dynamic.returncode != 0:
        return [f"readelf -d {vigil} failed: {dynamic.stderr.strip()}"]
    problems = []
    if "(RELR)" not in dynamic.stdout:
        problems.append(f"{vigil} has no packed relative relocations (DT_RELR): build it with `make release` "
                        "(RELEASE_LINK_FLAGS: -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs)")
    exported = run(["nm", "-D", "--defined-only", vigil])
    count = len([line for line in exported.stdout.splitlines() if line.strip()])
    if count > 100:
        problems.append(f"{vigil} exports {count} dynamic symbols: build it with `make release` "
                        "(RELEASE_LINK_FLAGS: -Xlinker --no-export-dynamic)")
    return problems


def checks(vigil):
    yield "footprint: vigil loads no full Foundation, FoundationInternationalization or ICU (ldd)", lambda: no_full_foundation_loaded(vigil)
    yield "footprint: vigil refers to no full Foundation or ICU symbol (nm)", lambda: no_foundation_symbols(vigil)
    yield "footprint: vigil does not link libcurl; it loads it for pushes only (ldd)", lambda: no_libcurl_linked(vigil)
    # Only the release build links the runtime in; the debug build loads it from the toolchain.
    if "/release/" in str(vigil):
        yield "footprint: the release vigil carries its Swift runtime (--static-swift-stdlib)", lambda: swift_runtime_linked_in(vigil)
        yield "footprint: the release vigil packs its relocations (DT_RELR) and keeps its symbols out of the dynamic table", lambda: linked_for_a_small_rss(vigil)
