//! `genhash`: the MD5 digest keepalived's HTTP_GET/SSL_GET compute for a
//! URL, with the options, output and exit codes of Debian's genhash
//! (keepalived 2.2.7). The work is in `checkers::genhash`.

fn main() {
    let mut args = std::env::args();
    let prog = args.next().unwrap_or_else(|| "genhash".into());
    let args: Vec<String> = args.collect();
    std::process::exit(checkers::genhash::main(&prog, &args, true));
}
