//! The parser never panics, whatever it is given: random keyword soups
//! (proptest) built from the language's own pieces, and raw bytes.

use proptest::prelude::*;

const PIECES: &[&str] = &[
    "vrrp_instance VI_1",
    "virtual_server 10.0.0.1 80",
    "virtual_server fwmark 1",
    "virtual_server group G",
    "virtual_server_group G",
    "real_server 10.0.0.2 80",
    "TCP_CHECK",
    "HTTP_GET",
    "url",
    "path /",
    "digest 0",
    "status_code 200-299 x",
    "global_defs",
    "vrrp_script s",
    "script \"/bin/true a\"",
    "track_script",
    "s weight -300",
    "virtual_ipaddress",
    "10.0.0.9/33 dev",
    "::1/129",
    "1.2.3.4-300 80",
    "ae00::2-9 80",
    "fwmark 99 inet6",
    "{",
    "}",
    "{ }",
    "\"",
    "\"a b\"",
    "#",
    "!",
    "\\",
    "$X=1",
    "$X",
    "${X}",
    "${_RANDOM 1 0}",
    "${_ENV}",
    "$M=a \\",
    "~SEQ(i, 1, 3)",
    "~SEQ(i, 3, 1, 1)",
    "~SEQx(i,-1)",
    "~LST({a,b},{1})",
    "@lb1 ",
    "@^lb1",
    "@",
    "include /nonexistent*",
    "includea x{a,b",
    "priority 999",
    "advert_int -1",
    "weight 99999999999999999999",
    "lb_kind TUN type gue",
    "lb_algo",
    "protocol",
    "state",
    "interface",
    "unicast_peer",
    "1.1.1.1 min_ttl",
    "notify_master",
    "virtual_routes",
    "src 1 via dev",
    "virtual_rules",
    "from to",
    "payload zz",
    "\t",
    " ",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec((0..PIECES.len(), prop::bool::ANY), 0..60).prop_map(|v| {
        let mut s = String::new();
        for (i, nl) in v {
            s.push_str(PIECES[i]);
            s.push(if nl { '\n' } else { ' ' });
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn keyword_soup_never_panics(text in soup()) {
        let p = kaconf::parse_str(&text, &kaconf::Options { config_id: "lb1".into(), all_config: false, run_time: false });
        let _ = p.exit_code();
        let _ = p.render_diagnostics();
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let p = kaconf::parse_str(&text, &kaconf::Options::default());
        let _ = p.exit_code();
    }
}
