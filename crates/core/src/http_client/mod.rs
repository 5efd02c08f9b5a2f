//! Outbound HTTP: the [`HttpClient`] trait every provider call goes through, and the default
//! [`ReqwestClient`] (feature `reqwest`).
//!
//! # Security
//! Outbound requests carry client secrets, codes and tokens. The default client never
//! follows redirects (a `307` from a token endpoint would re-send the secret elsewhere, and
//! following redirects opens the door to SSRF), has connect and total timeouts, caps the
//! size of responses, verifies TLS with rustls, and can be restricted to loopback addresses
//! (tests and CI always are). A host that brings its own client must keep those properties.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use async_trait::async_trait;
use bytes::Bytes;

#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
mod reqwest_client;
#[cfg(feature = "reqwest")]
pub use reqwest_client::{ReqwestClient, ReqwestClientOptions};

/// Why an outbound request failed before a response arrived (or while reading it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The connect or total timeout ran out.
    #[error("timed out")]
    Timeout,
    /// The connection could not be made.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The request was refused before sending (a non-loopback host in loopback-only mode,
    /// a non-https URL, a malformed URL).
    #[error("request refused: {0}")]
    Refused(String),
    /// The response body was larger than the cap.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    /// Any other failure.
    #[error("http error: {0}")]
    Other(String),
}

/// Sends one HTTP request and returns the whole response.
///
/// Implemented by [`ReqwestClient`] and, through a blanket impl, by any
/// `Fn(http::Request<Bytes>) -> impl Future<Output = Result<http::Response<Bytes>, HttpError>>`,
/// so a unit test can answer provider calls with a closure:
///
/// ```
/// use bytes::Bytes;
/// use dravo_connect_core::http_client::{HttpClient, HttpError};
/// let client = |req: http::Request<Bytes>| async move {
///     assert_eq!(req.uri().path(), "/token");
///     Ok::<_, HttpError>(http::Response::new(Bytes::from_static(b"{}")))
/// };
/// fn takes(_: &dyn HttpClient) {}
/// takes(&client);
/// ```
///
/// # Security
/// An implementation must not follow redirects, must time out, and must cap response sizes.
#[async_trait]
pub trait HttpClient: Send + Sync + 'static {
    /// Sends `request` and reads the whole response.
    ///
    /// # Errors
    /// [`HttpError`] when no complete response could be read.
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError>;
}

#[async_trait]
impl<F, Fut> HttpClient for F
where
    F: Fn(http::Request<Bytes>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<http::Response<Bytes>, HttpError>> + Send + 'static,
{
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
        (self)(request).await
    }
}

/// True for hosts that are loopback: `localhost`, `127.0.0.0/8` and `[::1]`.
pub fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Whether an address is a public unicast address, fit to be called on a tenant's behalf.
///
/// The address is judged by the IANA IPv4 and IPv6 Special-Purpose Address Registries:
/// every block whose "Globally Reachable" is False (or left empty, for terminated rows) is
/// refused, as are multicast, site-local (deprecated) and the deprecated IPv6 spellings of
/// IPv4 (the tables `V4_NOT_GLOBAL` and `V6_NOT_GLOBAL` in the source). The IPv6 forms that carry an IPv4 address a
/// host or translator would dial (IPv4-mapped, the NAT64 well-known prefix, 6to4) are
/// judged as that IPv4 address (`V6_CARRYING_V4`).
///
/// Choices where the registries leave room (all on the refusing side):
/// - rows marked globally reachable inside a block that is not (192.0.0.9/32 and
///   192.0.0.10/32 in 192.0.0.0/24; 2001:1::1/128, 2001:1::2/128, 2001:1::3/128,
///   2001:3::/32, 2001:4:112::/48, 2001:20::/28 and 2001:30::/28 in 2001::/23) are refused
///   with their block: anycast relays, AMT, AS112, ORCHIDv2 and drone tags are never a
///   tenant's server;
/// - Teredo (2001::/32) is refused wholesale, whatever the server and client IPv4
///   addresses it carries;
/// - the local-use NAT64 prefix (64:ff9b:1::/48) is refused wholesale: a local translator
///   may map it onto anything;
/// - IPv4-compatible (::/96, deprecated by RFC 4291) and IPv4-translated (::ffff:0:0:0/96,
///   RFC 2765, dropped by RFC 6145) addresses are refused wholesale, whatever IPv4 address
///   they carry;
/// - the globally reachable rows outside such a block (192.31.196.0/24 and 192.175.48.0/24
///   AS112, 192.52.193.0/24 AMT, 2620:4f:8000::/48 AS112) are public.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// A block of addresses: its first address, its prefix length and its name (as in its
/// registry, with the RFC).
type Block<A> = (A, u8, &'static str);

/// The IPv4 blocks refused: every row of the IANA IPv4 Special-Purpose Address Registry
/// whose "Globally Reachable" is False or empty, in the registry's order, and multicast.
/// Rows nested in another row are kept, so that each registry row can be found here.
const V4_NOT_GLOBAL: &[Block<Ipv4Addr>] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "\"This network\" (RFC 791)"),
    (Ipv4Addr::new(0, 0, 0, 0), 32, "\"This host on this network\" (RFC 1122)"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "Private-Use (RFC 1918)"),
    (Ipv4Addr::new(100, 64, 0, 0), 10, "Shared Address Space (RFC 6598)"),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "Loopback (RFC 1122)"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "Link Local (RFC 3927)"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "Private-Use (RFC 1918)"),
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF Protocol Assignments (RFC 6890)"),
    (Ipv4Addr::new(192, 0, 0, 0), 29, "IPv4 Service Continuity Prefix (RFC 7335)"),
    (Ipv4Addr::new(192, 0, 0, 8), 32, "IPv4 dummy address (RFC 7600)"),
    (Ipv4Addr::new(192, 0, 0, 170), 32, "NAT64/DNS64 Discovery (RFC 8880)"),
    (Ipv4Addr::new(192, 0, 0, 171), 32, "NAT64/DNS64 Discovery (RFC 8880)"),
    (Ipv4Addr::new(192, 0, 2, 0), 24, "Documentation, TEST-NET-1 (RFC 5737)"),
    (Ipv4Addr::new(192, 88, 99, 0), 24, "Deprecated, 6to4 Relay Anycast (RFC 7526)"),
    (Ipv4Addr::new(192, 88, 99, 2), 32, "6a44-relay anycast address (RFC 6751)"),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "Private-Use (RFC 1918)"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "Benchmarking (RFC 2544)"),
    (Ipv4Addr::new(198, 51, 100, 0), 24, "Documentation, TEST-NET-2 (RFC 5737)"),
    (Ipv4Addr::new(203, 0, 113, 0), 24, "Documentation, TEST-NET-3 (RFC 5737)"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "Reserved (RFC 1112)"),
    (Ipv4Addr::new(255, 255, 255, 255), 32, "Limited Broadcast (RFC 919)"),
    // Not in the special-purpose registry: the IPv4 Multicast Address Space.
    (Ipv4Addr::new(224, 0, 0, 0), 4, "Multicast (RFC 5771)"),
];

/// The IPv6 blocks refused: every row of the IANA IPv6 Special-Purpose Address Registry
/// whose "Globally Reachable" is False, empty or N/A, in the registry's order, except the
/// IPv4-mapped block (judged by the IPv4 address it carries, see [`V6_CARRYING_V4`]); then
/// multicast, site-local and the deprecated IPv6 spellings of IPv4.
const V6_NOT_GLOBAL: &[Block<Ipv6Addr>] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128, "Loopback Address (RFC 4291)"),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 128, "Unspecified Address (RFC 4291)"),
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, "IPv4-IPv6 Translat., local use (RFC 8215)"),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, "Discard-Only Address Block (RFC 6666)"),
    (Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0), 64, "Dummy IPv6 Prefix (RFC 9780)"),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23, "IETF Protocol Assignments (RFC 2928)"),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, "TEREDO (RFC 4380)"),
    (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48, "Benchmarking (RFC 5180)"),
    (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28, "Deprecated, previously ORCHID (RFC 4843)"),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, "Documentation (RFC 3849)"),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, "Documentation (RFC 9637)"),
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16, "Segment Routing (SRv6) SIDs (RFC 9602)"),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, "Unique-Local (RFC 4193)"),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "Link-Local Unicast (RFC 4291)"),
    // Not in the special-purpose registry.
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "Multicast (RFC 4291)"),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "Site-local, deprecated (RFC 3879)"),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96, "IPv4-compatible, deprecated (RFC 4291)"),
    (Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96, "IPv4-translated (RFC 2765)"),
];

/// The IPv6 blocks that carry an IPv4 address which a host, a translator or a relay
/// dials: an address in one of them is judged as that IPv4 address. The last number is
/// where the IPv4 address starts, in bits from the top.
const V6_CARRYING_V4: &[(Ipv6Addr, u8, &str, u32)] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96, "IPv4-mapped Address (RFC 4291)", 96),
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96, "IPv4-IPv6 Translat. (RFC 6052)", 96),
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16, "6to4 (RFC 3056)", 16),
];

/// Whether `bits` (an address `width` bits wide) lies in the block starting at `prefix`
/// with prefix length `len`.
fn in_block(bits: u128, prefix: u128, len: u8, width: u32) -> bool {
    let host_bits = width.saturating_sub(u32::from(len));
    (bits ^ prefix).checked_shr(host_bits).unwrap_or(0) == 0
}

fn in_v4_block(ip: Ipv4Addr, &(prefix, len, _): &Block<Ipv4Addr>) -> bool {
    in_block(u128::from(ip.to_bits()), u128::from(prefix.to_bits()), len, 32)
}

fn in_v6_block(ip: Ipv6Addr, prefix: Ipv6Addr, len: u8) -> bool {
    in_block(ip.to_bits(), prefix.to_bits(), len, 128)
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !V4_NOT_GLOBAL.iter().any(|block| in_v4_block(ip, block))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if V6_NOT_GLOBAL.iter().any(|&(prefix, len, _)| in_v6_block(ip, prefix, len)) {
        return false;
    }
    match V6_CARRYING_V4.iter().find(|&&(prefix, len, _, _)| in_v6_block(ip, prefix, len)) {
        Some(&(_, _, _, at)) => embedded_v4(ip, at).is_some_and(is_public_v4),
        None => true,
    }
}

/// The IPv4 address in bits `at..at + 32` (from the top) of `ip`.
fn embedded_v4(ip: Ipv6Addr, at: u32) -> Option<Ipv4Addr> {
    let shifted = ip.to_bits().checked_shr(96u32.checked_sub(at)?)?;
    u32::try_from(shifted & u128::from(u32::MAX)).ok().map(Ipv4Addr::from_bits)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn public(ip: &str) -> bool {
        is_public_ip(ip.parse().unwrap())
    }

    /// One case per registry row: the block as written in the registry, and the verdict on
    /// the address just below its first address and just above its last (`None` where
    /// there is none), which the other rows decide.
    const V4_ROWS: &[(&str, Option<bool>, Option<bool>)] = &[
        ("0.0.0.0/8", None, Some(true)),
        ("0.0.0.0/32", None, Some(false)),
        ("10.0.0.0/8", Some(true), Some(true)),
        ("100.64.0.0/10", Some(true), Some(true)),
        ("127.0.0.0/8", Some(true), Some(true)),
        ("169.254.0.0/16", Some(true), Some(true)),
        ("172.16.0.0/12", Some(true), Some(true)),
        ("192.0.0.0/24", Some(true), Some(true)),
        ("192.0.0.0/29", Some(true), Some(false)),
        ("192.0.0.8/32", Some(false), Some(false)),
        ("192.0.0.170/32", Some(false), Some(false)),
        ("192.0.0.171/32", Some(false), Some(false)),
        ("192.0.2.0/24", Some(true), Some(true)),
        ("192.88.99.0/24", Some(true), Some(true)),
        ("192.88.99.2/32", Some(false), Some(false)),
        ("192.168.0.0/16", Some(true), Some(true)),
        ("198.18.0.0/15", Some(true), Some(true)),
        ("198.51.100.0/24", Some(true), Some(true)),
        ("203.0.113.0/24", Some(true), Some(true)),
        ("240.0.0.0/4", Some(false), None),
        ("255.255.255.255/32", Some(false), None),
        ("224.0.0.0/4", Some(true), Some(false)),
    ];

    const V6_ROWS: &[(&str, Option<bool>, Option<bool>)] = &[
        ("::1/128", Some(false), Some(false)),
        ("::/128", None, Some(false)),
        ("64:ff9b:1::/48", Some(true), Some(true)),
        ("100::/64", Some(true), Some(false)),
        ("100:0:0:1::/64", Some(false), Some(true)),
        ("2001::/23", Some(true), Some(true)),
        ("2001::/32", Some(true), Some(false)),
        ("2001:2::/48", Some(false), Some(false)),
        ("2001:10::/28", Some(false), Some(false)),
        ("2001:db8::/32", Some(true), Some(true)),
        ("3fff::/20", Some(true), Some(true)),
        ("5f00::/16", Some(true), Some(true)),
        ("fc00::/7", Some(true), Some(true)),
        ("fe80::/10", Some(true), Some(false)),
        ("ff00::/8", Some(false), None),
        ("fec0::/10", Some(false), Some(false)),
        ("::/96", None, Some(true)),
        ("::ffff:0:0:0/96", Some(true), Some(true)),
    ];

    fn block(cidr: &str) -> (u128, u128, u32) {
        let (ip, len) = cidr.split_once('/').unwrap();
        let len: u32 = len.parse().unwrap();
        let (bits, width) = match ip.parse::<IpAddr>().unwrap() {
            IpAddr::V4(v4) => (u128::from(v4.to_bits()), 32),
            IpAddr::V6(v6) => (v6.to_bits(), 128),
        };
        let size = 1u128.checked_shl(width - len).map_or(u128::MAX, |n| n - 1);
        assert_eq!(bits & size, 0, "{cidr} is not a block start");
        (bits, bits | size, width)
    }

    fn address(bits: u128, width: u32) -> IpAddr {
        if width == 32 {
            IpAddr::V4(Ipv4Addr::from_bits(u32::try_from(bits).unwrap()))
        } else {
            IpAddr::V6(Ipv6Addr::from_bits(bits))
        }
    }

    fn check_rows(rows: &[(&str, Option<bool>, Option<bool>)], table: BTreeSet<String>) {
        let tested: BTreeSet<String> = rows.iter().map(|(cidr, _, _)| (*cidr).to_owned()).collect();
        assert_eq!(tested, table, "every row of the table is tested, and nothing else");
        for &(cidr, below, above) in rows {
            let (first, last, width) = block(cidr);
            for inside in [first, first + (last - first) / 2, last] {
                let ip = address(inside, width);
                assert!(!is_public_ip(ip), "{ip} (in {cidr}) must be refused");
            }
            let max = if width == 32 { u128::from(u32::MAX) } else { u128::MAX };
            assert_eq!(first.checked_sub(1).map(|b| is_public_ip(address(b, width))), below, "just below {cidr}");
            let next = last.checked_add(1).filter(|&b| b <= max);
            assert_eq!(next.map(|b| is_public_ip(address(b, width))), above, "just above {cidr}");
        }
    }

    #[test]
    fn every_ipv4_special_purpose_row_is_refused_and_its_neighbours_are_judged_by_the_others() {
        check_rows(V4_ROWS, V4_NOT_GLOBAL.iter().map(|(ip, len, _)| format!("{ip}/{len}")).collect());
    }

    #[test]
    fn every_ipv6_special_purpose_row_is_refused_and_its_neighbours_are_judged_by_the_others() {
        check_rows(V6_ROWS, V6_NOT_GLOBAL.iter().map(|(ip, len, _)| format!("{ip}/{len}")).collect());
    }

    #[test]
    fn the_globally_reachable_exceptions_inside_a_refused_block_are_refused_with_it() {
        for ip in [
            "192.0.0.9",
            "192.0.0.10",
            "2001:1::1",
            "2001:1::2",
            "2001:1::3",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2001:30::1",
        ] {
            assert!(!public(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn known_public_addresses_and_the_globally_reachable_rows_outside_refused_blocks_are_accepted() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.9.9.9",
            "192.31.196.1",
            "192.52.193.1",
            "192.175.48.1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2620:4f:8000::1",
            "2a01:4f8::1",
        ] {
            assert!(public(ip), "{ip} must be accepted");
        }
    }

    #[test]
    fn every_ipv6_form_carrying_an_ipv4_address_is_judged_by_it_or_refused() {
        // (form, with 10.0.0.1 inside, with 8.8.8.8 inside, verdict on the public one)
        let cases = [
            ("IPv4-mapped", "::ffff:10.0.0.1", "::ffff:8.8.8.8", true),
            ("IPv4-mapped loopback", "::ffff:127.0.0.1", "::ffff:1.1.1.1", true),
            ("NAT64 well-known", "64:ff9b::10.0.0.1", "64:ff9b::8.8.8.8", true),
            ("NAT64 well-known loopback", "64:ff9b::7f00:1", "64:ff9b::101:101", true),
            // Read from the wrong bits (32..64), these two would be judged the other way.
            ("6to4", "2002:a00:101:101::", "2002:808:a00::1", true),
            ("6to4 loopback", "2002:7f00:1:ffff::1", "2002:101:101::", true),
            ("IPv4-compatible (refused wholesale)", "::10.0.0.1", "::8.8.8.8", false),
            ("IPv4-translated (refused wholesale)", "::ffff:0:10.0.0.1", "::ffff:0:8.8.8.8", false),
            ("IPv4-translated loopback", "::ffff:0:127.0.0.1", "::ffff:0:1.1.1.1", false),
            ("NAT64 local use (refused wholesale)", "64:ff9b:1::10.0.0.1", "64:ff9b:1::8.8.8.8", false),
            // Teredo: server IPv4 in bits 32..64, client IPv4 XOR-ed with all ones at the end.
            ("Teredo (refused wholesale)", "2001:0:a00:1::f5ff:fffe", "2001:0:808:808::f7f7:f7f7", false),
        ];
        for (form, private, public_one, verdict) in cases {
            assert!(!public(private), "{form}: {private} must be refused");
            assert_eq!(public(public_one), verdict, "{form}: {public_one}");
        }
    }

    #[test]
    fn the_embedded_ipv4_address_is_read_from_the_right_bits() {
        let at = |ip: &str, at| embedded_v4(ip.parse().unwrap(), at).unwrap();
        assert_eq!(at("::ffff:1.2.3.4", 96), Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(at("64:ff9b::102:304", 96), Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(at("2002:102:304:ffff:ffff:ffff:ffff:ffff", 16), Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(embedded_v4(Ipv6Addr::UNSPECIFIED, 97), None);
    }

    #[test]
    fn every_table_row_is_a_block_start_with_a_valid_length() {
        for &(ip, len, name) in V4_NOT_GLOBAL {
            assert!(len <= 32 && block(&format!("{ip}/{len}")).0 == u128::from(ip.to_bits()), "{name}");
        }
        for &(ip, len, name) in V6_NOT_GLOBAL {
            assert!(len <= 128 && block(&format!("{ip}/{len}")).0 == ip.to_bits(), "{name}");
        }
        for &(ip, len, name, at) in V6_CARRYING_V4 {
            assert!(len <= 128 && at + 32 <= 128 && block(&format!("{ip}/{len}")).0 == ip.to_bits(), "{name}");
        }
    }
}
