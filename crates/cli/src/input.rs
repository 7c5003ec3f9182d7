//! Resolving raw arguments into walk inputs: the host and the packet.

use anyhow::{anyhow, bail, Context, Result};
use nfwalk_model::{Host, Packet, Proto, TcpFlags};
use nfwalk_walk::Ingress;

use crate::args::{HostArgs, PacketArgs};

/// Loads the host named by the arguments; diagnostics (unknown modules...) go to stderr.
pub fn load_host(a: &HostArgs) -> Result<Host> {
    if let Some(dir) = &a.snapshot {
        let (host, diags) = nfwalk_parse::snapshot::load_snapshot(dir)
            .map_err(render_snapshot_error)
            .with_context(|| format!("loading snapshot {}", dir.display()))?;
        for d in diags {
            eprintln!("{d}");
        }
        return Ok(host);
    }
    if let Some(file) = &a.host {
        let (host, diags) = nfwalk_parse::snapshot::load_host_toml(file)
            .map_err(render_snapshot_error)
            .with_context(|| format!("loading host file {}", file.display()))?;
        for d in diags {
            eprintln!("{d}");
        }
        return Ok(host);
    }
    crate::demo_host::seed_host()
}

/// A ruleset that does not load is shown like a compiler shows errors: `file:line:col`,
/// message and hint, then the offending line with the token underlined.
fn render_snapshot_error(e: nfwalk_parse::snapshot::SnapshotError) -> anyhow::Error {
    match e {
        nfwalk_parse::snapshot::SnapshotError::Ruleset(le) => {
            let mut snippet = String::new();
            let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
            if handler.render_report(&mut snippet, le.as_ref()).is_err() || snippet.is_empty() {
                return anyhow!("{le}");
            }
            anyhow!("{}", snippet.trim_end())
        }
        other => anyhow!("{other}"),
    }
}

fn icmp_type(s: &str) -> Result<(u8, u8)> {
    let (t, c) = match s.split_once('/') {
        Some((t, c)) => (t, Some(c)),
        None => (s, None),
    };
    let ty = match t {
        "echo-reply" => 0,
        "destination-unreachable" => 3,
        "echo-request" => 8,
        "time-exceeded" => 11,
        "parameter-problem" => 12,
        n => n.parse().map_err(|_| anyhow!("unknown ICMP type `{n}`"))?,
    };
    let code = match c {
        Some(c) => c.parse().map_err(|_| anyhow!("bad ICMP code `{c}`"))?,
        None => 0,
    };
    Ok((ty, code))
}

/// Refuses an `--in` interface the host does not have (a typo would otherwise walk a
/// packet through rules that never see it), naming the ones it has.
pub fn check_ingress(host: &Host, ingress: &Ingress) -> Result<()> {
    if let Ingress::Iface { iface, .. } = ingress {
        if !host.interfaces.is_empty() && host.iface(iface).is_none() {
            let names: Vec<&str> = host.interfaces.iter().map(|i| i.name.as_str()).collect();
            bail!(
                "interface `{iface}` is not on host {}\n  hint: --in takes one of: {}",
                host.name,
                names.join(", ")
            );
        }
    }
    Ok(())
}

/// Builds the packet and its ingress from flags.
pub fn packet(a: &PacketArgs) -> Result<(Ingress, Packet)> {
    let proto = Proto::from_name(&a.proto).ok_or_else(|| anyhow!("unknown protocol `{}`", a.proto))?;
    let ingress = match (&a.in_, a.local) {
        (Some(i), false) => Ingress::Iface {
            iface: i.clone(),
            physin: None,
        },
        (None, true) => Ingress::Local,
        (None, false) => bail!("say where the packet comes from: --in IFACE or --local"),
        (Some(_), true) => bail!("--in and --local exclude each other"),
    };
    let src = match (a.src, a.local) {
        (Some(s), _) => s,
        (None, true) => std::net::Ipv4Addr::UNSPECIFIED,
        (None, false) => bail!("--src is required for a received packet"),
    };
    let mut p = match proto {
        Proto::TCP => {
            let flags = TcpFlags::parse_list(&a.tcp_flags)
                .ok_or_else(|| anyhow!("bad --tcp-flags `{}` (e.g. SYN or ACK,PSH)", a.tcp_flags))?;
            Packet::tcp(src, a.sport, a.dst, a.dport, flags)
        }
        Proto::UDP => Packet::udp(src, a.sport, a.dst, a.dport),
        Proto::ICMP => {
            let (t, c) = icmp_type(&a.icmp_type)?;
            let mut p = Packet::icmp_echo(src, a.dst, 1, 1);
            p.icmp_type = t;
            p.icmp_code = c;
            p
        }
        other => {
            let mut p = Packet::blank(src, a.dst, other);
            if other.has_ports() {
                p.sport = a.sport;
                p.dport = a.dport;
            }
            p
        }
    };
    p.mark = a.mark;
    if let Some(l) = a.len {
        p.len = l;
    }
    p.id = 1;
    Ok((ingress, p))
}
