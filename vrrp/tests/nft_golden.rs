//! Golden bytes: the nfnetlink requests [`vrrp::nft::Firewall`]
//! builds are the ones Debian's keepalived 2.2.7 sends for the same events
//! (captured with strace, see `nft-captures/*.hex` for the command), up to
//! the sequence numbers, which are the senders' own.

use vrrp::nft::{Batch, Firewall, FwAddr, FwCfg, NFPROTO_IPV4, NFPROTO_IPV6};

fn captured(name: &str) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(format!(
        "{}/tests/nft-captures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect()
}

/// Zeroes the alignment padding after each attribute in `m[from..to]`
/// (nested ones too): keepalived's buffers are not cleared, so its padding
/// bytes are whatever was there.
fn zero_padding(m: &mut [u8], from: usize, to: usize) {
    let mut at = from;
    while at + 4 <= to {
        let len = u16::from_ne_bytes([m[at], m[at + 1]]) as usize;
        let ty = u16::from_ne_bytes([m[at + 2], m[at + 3]]);
        if len < 4 || at + len > to {
            return;
        }
        if ty & 0x8000 != 0 {
            zero_padding(m, at + 4, at + len);
        }
        let next = (at + len).next_multiple_of(4).min(to);
        m[at + len..next].fill(0);
        at = next;
    }
}

/// The messages of a request, sequence numbers and padding zeroed.
fn messages(b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 <= b.len() {
        let len = u32::from_ne_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        let mut m = b[at..at + len].to_vec();
        m[8..12].fill(0);
        let end = m.len();
        zero_padding(&mut m, 20.min(end), end);
        out.push(m);
        at += len.next_multiple_of(4);
    }
    assert_eq!(at, b.len());
    out
}

fn same(what: &str, ours: &[u8], theirs: &[u8]) {
    let (o, t) = (messages(ours), messages(theirs));
    for (k, (a, b)) in o.iter().zip(&t).enumerate() {
        assert_eq!(
            a, b,
            "{what}, message {k}: ours {:02x?}\n keepalived {:02x?}",
            a, b
        );
    }
    assert_eq!(o.len(), t.len(), "{what}: number of messages");
}

#[test]
fn requests_match_keepalived() {
    let cap = captured("keepalived-no-accept.hex");
    assert_eq!(cap.len(), 7);
    let mut fw = Firewall::new(FwCfg::default());
    let d0 = 3;
    let vi6 = [
        FwAddr::of("fe80::99".parse().unwrap(), d0, "d0", false),
        FwAddr::of("2001:db8::9".parse().unwrap(), d0, "d0", false),
    ];
    let vi7 = [
        FwAddr::of("fe80::77".parse().unwrap(), d0, "d0", true),
        FwAddr::of("198.51.100.7".parse().unwrap(), d0, "d0", true),
    ];
    same("GETTABLE ip", &fw.get_table(NFPROTO_IPV4), &cap[0]);
    same("GETTABLE ip6", &fw.get_table(NFPROTO_IPV6), &cap[1]);
    let b = |b: Option<Batch>| b.unwrap().bytes;
    same("VI_6 in", &b(fw.update(&vi6, &[], &[])), &cap[2]);
    same("VI_7 in", &b(fw.update(&vi7, &[], &[])), &cap[3]);
    same("VI_6 out", &b(fw.update(&[], &vi6, &[])), &cap[4]);
    same("VI_7 out", &b(fw.update(&[], &vi7, &[])), &cap[5]);
    same("tables deleted", &b(fw.cleanup()), &cap[6]);
}

#[test]
fn vmac_requests_match_keepalived() {
    let cap = captured("keepalived-vmac.hex");
    assert_eq!(cap.len(), 7);
    let mut fw = Firewall::new(FwCfg::default());
    let (d0, vrrp5, vrrp12) = (3, 7, 8);
    let b = |b: Option<Batch>| b.unwrap().bytes;
    same("GETTABLE ip", &fw.get_table(NFPROTO_IPV4), &cap[0]);
    same("GETTABLE ip6", &fw.get_table(NFPROTO_IPV6), &cap[1]);
    same(
        "vrrp.5 in",
        &b(fw.vmac(&[NFPROTO_IPV4], vrrp5, d0, true, &[])),
        &cap[2],
    );
    same(
        "vrrp.12 in",
        &b(fw.vmac(&[NFPROTO_IPV6], vrrp12, d0, true, &[])),
        &cap[3],
    );
    same(
        "vrrp.5 out",
        &b(fw.vmac(&[NFPROTO_IPV4], vrrp5, d0, false, &[])),
        &cap[4],
    );
    same(
        "vrrp.12 out",
        &b(fw.vmac(&[NFPROTO_IPV6], vrrp12, d0, false, &[])),
        &cap[5],
    );
    same("tables deleted", &b(fw.cleanup()), &cap[6]);
}
