//! HTTP_GET url `regex*` keywords as keepalived 2.2.7 reads them
//! (check_http.c handlers and `url_check`; lib/parser.c
//! `alloc_strvec_quoted_escaped`): values, keepalived's log lines (notes,
//! not config errors), and its quirks.

use kaconf::model::{CheckerSpec, Url};
use kaconf::values::{QuotedEscapedError, quoted_escaped, strtoul};

fn urls(body: &str) -> (Vec<Url>, Vec<(String, bool)>) {
    let conf = format!(
        "virtual_server 10.0.0.1 80 {{\n  real_server 10.0.0.2 80 {{\n    HTTP_GET {{\n{body}    }}\n  }}\n}}\n"
    );
    let p = kaconf::parse_str(&conf, &kaconf::Options::default());
    let urls = match &p.config.virtual_servers[0].real_servers[0].checkers[0].spec {
        CheckerSpec::Http(h) => h.urls.clone(),
        other => panic!("{other:?}"),
    };
    let diags = p
        .diags
        .list
        .iter()
        .map(|d| (d.message.clone(), d.note))
        .collect();
    (urls, diags)
}

fn notes(d: &[(String, bool)]) -> Vec<&str> {
    d.iter()
        .filter(|(_, n)| *n)
        .map(|(m, _)| m.as_str())
        .collect()
}

#[test]
fn quoted_escaped_is_keepalived_s() {
    let w = |s: &str| quoted_escaped(s.as_bytes()).unwrap();
    assert_eq!(w(r#"regex "a b""#), [b"regex".to_vec(), b"a b".to_vec()]);
    // escapes everywhere, quotes glued to their word
    assert_eq!(w(r#"regex "\d"\\d'\x41'"#)[1], b"d\\dA");
    assert_eq!(
        w(r"x \x414 \x \101 \777 \cA \t \E")[1..],
        [
            vec![0x14],
            b"x".to_vec(),
            b"A".to_vec(),
            vec![0xff],
            vec![1],
            b"\t".to_vec(),
            vec![0x1b]
        ]
    );
    // a NUL ends the word, as strndup does
    assert_eq!(w(r"a\0bc x")[0], b"a");
    assert_eq!(
        quoted_escaped(br#"regex "abc"#),
        Err(QuotedEscapedError::Unmatched('"'))
    );
    assert_eq!(
        quoted_escaped(br"regex abc\"),
        Err(QuotedEscapedError::MissingEscape)
    );
}

#[test]
fn strtoul_is_c_s() {
    assert_eq!(strtoul("12"), (12, true));
    assert_eq!(strtoul("12x"), (12, false));
    assert_eq!(strtoul("x"), (0, false));
    assert_eq!(strtoul("-1"), (u64::MAX, true));
    assert_eq!(strtoul("99999999999999999999999"), (u64::MAX, true));
    assert_eq!(strtoul(""), (0, true));
}

#[test]
fn regex_values_are_typed() {
    let (u, d) = urls(
        "      url {\n        path /\n        regex \"v(?=\\\\d+) \\d\"\n        regex_no_match\n        regex_options caseless bogus dotall\n        regex_min_offset 3\n        regex_max_offset 90\n        regex_stack 1000 2000\n      }\n",
    );
    assert_eq!(u[0].regex.as_deref(), Some(&b"v(?=\\d+) d"[..]));
    assert!(u[0].regex_no_match);
    assert_eq!(u[0].regex_options, ["caseless", "dotall"]);
    assert_eq!(u[0].regex_min_offset, 3);
    assert_eq!(u[0].regex_max_offset, Some(90));
    assert_eq!(u[0].regex_stack, Some((1000, 2000)));
    assert_eq!(u[0].regex_loc.map(|l| (l.line, l.col)), Some((6, 15)));
    // keepalived ignores an unknown option silently; ours says so, as a note
    assert_eq!(notes(&d), ["unknown regex option 'bogus' ignored"]);
    assert!(d.iter().all(|(m, n)| *n || !m.contains("regex")), "{d:?}");
}

#[test]
fn keepalived_s_complaints_are_notes() {
    let (u, d) = urls(concat!(
        "      url {\n        path /a\n        regex a b\n        regex_min_offset 12x\n        regex_max_offset 5 6\n        regex_stack 10\n      }\n",
        "      url {\n        path /b\n        regex_no_match\n        regex_stack 5 4\n      }\n",
        "      url {\n        path /c\n        regex x\n        regex_min_offset 10\n        regex_max_offset 5\n        regex_stack x 1\n        regex_stack 1 y\n      }\n",
    ));
    assert_eq!(
        notes(&d),
        [
            "regex missing or too many fields",
            "Invalid regex_min_offset 12x specified",
            "Missing or too may options for regex_max_offset",
            "regex_stack requires start and max values",
            // /a has regex_max_offset 0 left from the bad line, so it
            // counts as a regex parameter without a regex
            "regex parameters specified without regex",
            "regex stack start cannot exceed max value",
            "regex parameters specified without regex",
            "regex_stack invalid start value",
            "regex_stack invalid max value",
            "regex min offset 10 > regex_max_offset 5 - ignoring",
        ]
    );
    assert_eq!(u[0].regex, None);
    assert_eq!(u[0].regex_max_offset, None);
    assert!(!u[1].regex_no_match);
    assert_eq!(u[2].regex.as_deref(), Some(&b"x"[..]));
    assert_eq!((u[2].regex_min_offset, u[2].regex_max_offset), (0, None));
}

#[test]
fn a_regex_from_a_url_without_path_goes_to_the_next_url() {
    // keepalived's conf_regex_pattern survives the dropped url block
    let (u, d) = urls(
        "      url {\n        regex \"lost\"\n      }\n      url {\n        path /next\n      }\n",
    );
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].regex.as_deref(), Some(&b"lost"[..]));
    assert!(
        d.iter()
            .any(|(m, n)| !n && m == "HTTP/SSL_GET checker url has no path - ignoring")
    );
}

#[test]
fn unmatched_quote_is_a_config_error() {
    let (u, d) = urls("      url {\n        path /\n        regex 'abc\n      }\n");
    assert_eq!(u[0].regex, None);
    assert!(
        d.iter()
            .any(|(m, n)| !n && m.contains("missing terminating '"))
    );
    assert!(notes(&d).contains(&"regex missing or too many fields"));
}
