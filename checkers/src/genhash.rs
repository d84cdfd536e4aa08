//! `genhash`: prints the MD5 digest keepalived's HTTP_GET/SSL_GET would
//! compute for a URL, with Debian keepalived 2.2.7's options, output and
//! exit codes (check_genhash.c). Used by the root package's `genhash`
//! binary; the daemon may also route `keepalived --genhash`/`-T` here.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::config::{ConnOpts, HttpCfg, HttpProtocol, TlsCfg, UrlCfg};
use crate::http::{dump_buffer, hex};
use crate::probe;

/// Parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Opts {
    pub ssl: bool,
    pub sni: bool,
    pub server: IpAddr,
    pub port: u16,
    pub url: String,
    pub vhost: Option<String>,
    pub verbose: bool,
    pub fwmark: Option<u32>,
    pub protocol: HttpProtocol,
    pub timeout: Option<Duration>,
}

/// The usage text, as genhash prints it on stderr.
pub fn usage(prog: &str, am_genhash: bool) -> String {
    const OPTIONS: &[&str] = &[
        "Options:",
        "Either long or short options are allowed.",
        "   --use-ssl         -S       Use SSL connection to remote server.",
        "   --use-sni         -I       Use SNI during SSL handshake (uses virtualhost setting; see -V).",
        "   --server          -s       Use the specified remote server address.",
        "   --port            -p       Use the specified remote server port.",
        "   --url             -u       Use the specified remote server url.",
        "   --use-virtualhost -V       Use the specified virtualhost in GET query.",
        "   --verbose         -v       Use verbose mode output.",
        "   --help            -h       Display this short inlined help screen.",
        "   --fwmark          -m       Use the specified FW mark.",
        "   --protocol        -P       Use the specified HTTP protocol - '1.0', 1.0c', '1.1'.",
        "                                1.0c means 1.0 with 'Connection: close'",
        "   --timeout         -t       Timeout in seconds",
    ];
    let mut u = format!(
        "Usage: {prog}{} COMMAND [OPTIONS]\nCommands:\n   -s server-address -p port -u url\n   -S -s server-address -p port -u url\n   -h\n\n",
        if am_genhash { "" } else { " --genhash" }
    );
    for l in OPTIONS {
        u.push_str(l);
        u.push('\n');
    }
    u
}

const LONG: &[(&str, char, bool)] = &[
    ("help", 'h', false),
    ("verbose", 'v', false),
    ("use-ssl", 'S', false),
    ("use-sni", 'I', false),
    ("server", 's', true),
    ("use-virtualhost", 'V', true),
    ("port", 'p', true),
    ("url", 'u', true),
    ("fwmark", 'm', true),
    ("protocol", 'P', true),
    ("timeout", 't', true),
];

/// Parses `args` (without argv[0]) the way getopt_long does for genhash.
/// `Err` carries what goes to stderr before the usage text.
pub fn parse(args: &[String]) -> Result<Opts, String> {
    let mut err = String::new();
    if args.len() <= 1 {
        return Err(err);
    }
    let mut o = Opts {
        ssl: false,
        sni: false,
        server: IpAddr::from([0, 0, 0, 0]),
        port: 0,
        url: String::new(),
        vhost: None,
        verbose: false,
        fwmark: None,
        protocol: HttpProtocol::Http10,
        timeout: None,
    };
    let (mut have_s, mut have_p, mut have_u, mut bad) = (false, false, false, false);
    let mut opts: Vec<(char, Option<String>)> = Vec::new();
    let mut rest: Vec<String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            rest.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, val) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            let hits: Vec<_> = LONG
                .iter()
                .filter(|(n, _, _)| n.starts_with(name))
                .collect();
            let hit = LONG
                .iter()
                .find(|(n, _, _)| *n == name)
                .or(if hits.len() == 1 { Some(hits[0]) } else { None });
            match hit {
                None => {
                    err.push_str(&format!("Unknown option {a}\n"));
                    bad = true;
                }
                Some(&(n, c, needs)) => {
                    if needs {
                        let v = val.or_else(|| {
                            let v = args.get(i).cloned();
                            i += 1;
                            v
                        });
                        match v {
                            Some(v) => opts.push((c, Some(v))),
                            None => {
                                // (Debian's genhash prints stack garbage for the
                                // name here: longindex stays -1)
                                err.push_str(&format!("Missing parameter for option --{n}\n"));
                                bad = true;
                            }
                        }
                    } else {
                        opts.push((c, None));
                    }
                }
            }
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                j += 1;
                match LONG.iter().find(|(_, s, _)| *s == c) {
                    None => {
                        err.push_str(&format!("Unknown option -{c}\n"));
                        bad = true;
                    }
                    Some(&(_, _, true)) => {
                        let v: String = chars[j..].iter().collect();
                        j = chars.len();
                        let v = if v.is_empty() {
                            let v = args.get(i).cloned();
                            i += 1;
                            v
                        } else {
                            Some(v)
                        };
                        match v {
                            Some(v) => opts.push((c, Some(v))),
                            None => {
                                err.push_str(&format!("Missing parameter for option -{c}\n"));
                                bad = true;
                            }
                        }
                    }
                    Some(_) => opts.push((c, None)),
                }
            }
            continue;
        }
        rest.push(a.clone());
    }
    for (c, v) in opts {
        let v = v.unwrap_or_default();
        match c {
            'h' => bad = true,
            'v' => o.verbose = true,
            'S' => o.ssl = true,
            'I' => o.sni = true,
            's' => match v.parse() {
                Ok(ip) => {
                    o.server = ip;
                    have_s = true;
                }
                Err(_) => return Err(format!("{err}server should be an IP, not {v}\n")),
            },
            'V' => o.vhost = Some(v),
            'p' => match v.parse::<u16>() {
                Ok(p) if p > 0 && !v.starts_with('+') => {
                    o.port = p;
                    have_p = true;
                }
                _ => return Err(format!("{err}invalid port number '{v}'\n")),
            },
            'u' => {
                o.url = v;
                have_u = true;
            }
            'm' => {
                let t = v.trim_start_matches([' ', '\t']);
                match t.parse::<u32>() {
                    Ok(m) if !t.starts_with('+') => o.fwmark = Some(m),
                    _ => return Err(format!("{err}invalid fwmark '{v}'\n")),
                }
            }
            'P' => {
                o.protocol = match v.as_str() {
                    "1.0" => HttpProtocol::Http10,
                    "1.0c" | "1.0C" => HttpProtocol::Http10Close,
                    "1.1" => HttpProtocol::Http11,
                    _ => return Err(format!("{err}invalid HTTP protocol version '{v}'\n")),
                }
            }
            't' => {
                let t = v.trim_start_matches([' ', '\t']);
                match t.parse::<u32>() {
                    Ok(s) if !t.starts_with('+') => o.timeout = Some(Duration::from_secs(s.into())),
                    _ => return Err(format!("{err}invalid timeout '{v}'\n")),
                }
            }
            _ => bad = true,
        }
    }
    if bad {
        return Err(err);
    }
    if !rest.is_empty() {
        return Err(format!("{err}Unexpected argument(s): {}\n", rest.join(" ")));
    }
    if have_s && have_p && have_u {
        Ok(o)
    } else {
        Err(err)
    }
}

/// Fetches and prints like genhash. Returns the exit code (0 even when
/// the server fails: genhash prints the reason and exits 0).
pub async fn run(o: &Opts, out: &mut impl Write, err: &mut impl Write) -> i32 {
    let t0 = Instant::now();
    let dst = SocketAddr::new(o.server, o.port);
    // without -t, keepalived waits "forever" (UINT_MAX timer)
    let mut conn = ConnOpts::new(dst, o.timeout.unwrap_or(Duration::from_secs(86400 * 365)));
    conn.fwmark = o.fwmark;
    let tls = o.ssl.then(|| TlsCfg {
        enable_sni: o.sni,
        sni_name: o.vhost.clone(),
        ..TlsCfg::default()
    });
    let cfg = HttpCfg {
        urls: vec![],
        protocol: o.protocol,
        virtualhost: o.vhost.clone(),
        fast_recovery: false,
        tls: tls.clone(),
    };
    let url = UrlCfg {
        path: o.url.clone(),
        digest: None,
        status_code: vec![],
        virtualhost: None,
        regex: None,
    };
    let client = match &tls {
        Some(t) => match probe::tls_config(t) {
            Ok(c) => Some(c),
            Err(_) => {
                let _ = writeln!(err, "Cannot initialize SSL context.");
                return 1;
            }
        },
        None => None,
    };
    let resp = probe::http_fetch(&cfg, &url, &conn, client.as_ref(), Some(usize::MAX)).await;
    match resp {
        Err(msg) => {
            let _ = writeln!(out, "{msg}");
        }
        Ok(r) => {
            if o.verbose {
                let _ = out.write_all(
                    b"-----------------------[    HTTP Header Buffer    ]-----------------------\n",
                );
                if r.got_header {
                    let _ = write!(out, "{}", dump_buffer(&r.header));
                    let _ = out.write_all(b"-----------------------[ HTTP Header Ascii Buffer ]-----------------------\n");
                    let _ = out.write_all(&r.header);
                    let _ = writeln!(out);
                    let hashed = match r.content_len {
                        Some(cl) => &r.body[..cl.min(r.body.len())],
                        None => &r.body[..],
                    };
                    if !hashed.is_empty() {
                        let _ = out.write_all(b"-----------------------[        HTML Buffer        ]-----------------------\n");
                        let _ = write!(out, "{}", dump_buffer(hashed));
                    }
                    let _ = out.write_all(b"\n-----------------------[    HTML hash resulting    ]-----------------------\n");
                    let _ = write!(out, "{}", dump_buffer(&r.digest));
                    let _ = out.write_all(b"-----------------------[ HTML hash final resulting ]-----------------------\n");
                }
            }
            if r.got_header {
                let _ = writeln!(out, "{}", hex(&r.digest));
            } else {
                let _ = writeln!(err, "no data received from remote webserver");
            }
        }
    }
    if o.verbose {
        let _ = write!(
            out,
            "\nGlobal response time for [{}] = {} usecs\n",
            o.url,
            t0.elapsed().as_micros()
        );
    }
    0
}

/// The whole tool: `genhash ARGS` (`am_genhash`) or `keepalived -T ARGS`
/// (keepalived's usage text then names `keepalived --genhash`). Returns the
/// exit code.
pub fn main(prog: &str, args: &[String], am_genhash: bool) -> i32 {
    let opts = match parse(args) {
        Ok(o) => o,
        Err(msg) => {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(msg.as_bytes());
            let _ = e.write_all(usage(prog, am_genhash).as_bytes());
            return 1;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "genhash: {e}");
            return 1;
        }
    };
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let code = rt.block_on(run(&opts, &mut out, &mut err));
    let _ = out.flush();
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Opts, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn getopt_forms() {
        let o = p(&["-s", "127.0.0.1", "-p", "80", "-u", "/x"]).unwrap();
        assert_eq!((o.port, o.url.as_str()), (80, "/x"));
        let o = p(&[
            "-vS",
            "-s127.0.0.1",
            "--port=443",
            "--url",
            "/",
            "-P",
            "1.0c",
            "-t",
            "5",
            "-V",
            "h",
        ])
        .unwrap();
        assert!(o.verbose && o.ssl);
        assert_eq!(o.protocol, HttpProtocol::Http10Close);
        assert_eq!(o.timeout, Some(Duration::from_secs(5)));
        assert_eq!(o.vhost.as_deref(), Some("h"));
        // abbreviated long option
        assert!(p(&["--serv", "::1", "-p", "1", "-u", "/"]).is_ok());
    }

    #[test]
    fn errors_as_genhash_words_them() {
        assert_eq!(
            p(&["-s", "localhost", "-p", "1", "-u", "/"]).unwrap_err(),
            "server should be an IP, not localhost\n"
        );
        assert_eq!(
            p(&["-s", "1.2.3.4", "-p", "0", "-u", "/"]).unwrap_err(),
            "invalid port number '0'\n"
        );
        assert_eq!(
            p(&["-s", "1.2.3.4", "-p", "1", "-u", "/", "-P", "2"]).unwrap_err(),
            "invalid HTTP protocol version '2'\n"
        );
        assert_eq!(
            p(&["-s", "1.2.3.4", "-p", "1", "-u", "/", "-x"]).unwrap_err(),
            "Unknown option -x\n"
        );
        assert_eq!(
            p(&["-s", "1.2.3.4", "-p", "1", "-u"]).unwrap_err(),
            "Missing parameter for option -u\n"
        );
        assert_eq!(
            p(&["-s", "1.2.3.4", "-p", "1", "-u", "/", "extra"]).unwrap_err(),
            "Unexpected argument(s): extra\n"
        );
        assert_eq!(p(&["-s", "1.2.3.4", "-p", "1"]).unwrap_err(), "");
        assert_eq!(p(&["-h"]).unwrap_err(), "");
    }

    #[test]
    fn usage_text() {
        let u = usage("genhash", true);
        assert!(u.starts_with("Usage: genhash COMMAND [OPTIONS]\n"));
        assert!(usage("keepalived", false).starts_with("Usage: keepalived --genhash COMMAND"));
    }
}
