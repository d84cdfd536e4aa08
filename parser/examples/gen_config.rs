//! Writes a keepalived.conf with N virtual servers of M real servers each,
//! every real server with a TCP_CHECK (the parse benchmark's input).
//!
//! `cargo run --release -p keepalived-parser --example gen_config -- 20000 10 > big.conf`

use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let m: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(out, "global_defs {{\n    router_id bench\n}}\n")?;
    for v in 0..n {
        // 10.0.0.0/8 for VIPs, 172.16.0.0/12 for real servers.
        let vip = format!("10.{}.{}.{}", (v >> 16) & 255, (v >> 8) & 255, v & 255);
        writeln!(out, "virtual_server {vip} 80 {{")?;
        writeln!(
            out,
            "    delay_loop 6\n    lb_algo wrr\n    lb_kind DR\n    persistence_timeout 50\n    protocol TCP"
        )?;
        for r in 0..m {
            let i = v * m + r;
            let rip = format!(
                "172.{}.{}.{}",
                16 + ((i >> 16) & 15),
                (i >> 8) & 255,
                i & 255
            );
            writeln!(out, "    real_server {rip} 80 {{")?;
            writeln!(out, "        weight 1")?;
            writeln!(out, "        TCP_CHECK {{")?;
            writeln!(
                out,
                "            connect_port 80\n            connect_timeout 3\n            retry 3\n            delay_before_retry 3"
            )?;
            writeln!(out, "        }}\n    }}")?;
        }
        writeln!(out, "}}\n")?;
    }
    out.flush()
}
