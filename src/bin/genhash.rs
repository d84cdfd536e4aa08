//! `genhash`: the MD5 digest keepalived's HTTP_GET/SSL_GET compute for a
//! URL, with the options, output and exit codes of Debian's genhash
//! (keepalived 2.2.7). The work is in `checkers::genhash`.

use std::io::Write;

fn main() {
    let mut args = std::env::args();
    let prog = args.next().unwrap_or_else(|| "genhash".into());
    let args: Vec<String> = args.collect();
    let opts = match checkers::genhash::parse(&args) {
        Ok(o) => o,
        Err(msg) => {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(msg.as_bytes());
            let _ = e.write_all(checkers::genhash::usage(&prog, true).as_bytes());
            std::process::exit(1);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let code = rt.block_on(checkers::genhash::run(&opts, &mut out, &mut err));
    let _ = out.flush();
    std::process::exit(code);
}
