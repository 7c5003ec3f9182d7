//! Run a [`Scenario`] on the real kernel and record what the kernel did.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::netns::{poll_until, Lab, LabChild, TIMEOUT};
use crate::scenario::{Client, Outcome, Scenario, Server, Step, L4};
use crate::trace::{self, KernelPacket, TraceBlock};
use crate::LabError;

/// What one client experienced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientResult {
    /// The client as defined in the scenario.
    pub client: Client,
    /// What actually happened.
    pub outcome: Outcome,
}

impl ClientResult {
    /// Did the outcome match the scenario's expectation?
    pub fn as_expected(&self) -> bool {
        self.outcome == self.client.expect
    }
}

/// Everything the kernel run produced. All files are kept in `dir`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KernelRun {
    /// Output directory (kept).
    pub dir: PathBuf,
    /// The host namespace's snapshot (ip-link.json, ip-addr.json, ip-route.json,
    /// ip-rule.json, iptables-save.txt, sysctl.txt), taken after the TRACE rules were inserted.
    pub snapshot_dir: PathBuf,
    /// `tcpdump -i any -Q in` capture in the host namespace (LINUX_SLL2).
    pub pcap: PathBuf,
    /// Parsed `xtables-monitor --trace` blocks.
    pub trace: Vec<TraceBlock>,
    /// The raw `xtables-monitor --trace` output.
    pub raw_trace: String,
    /// `iptables-save -c` after the traffic (counters were zeroed just before it).
    pub counters: String,
    /// New kernel-log LOG lines (timestamp prefix stripped).
    pub log_lines: Vec<String>,
    /// `conntrack -L` lines in the host namespace after the traffic.
    pub conntrack: Vec<String>,
    /// What each client experienced.
    pub clients: Vec<ClientResult>,
}

impl KernelRun {
    /// The trace blocks grouped into packets (see [`trace::group_packets`]).
    pub fn packets(&self) -> Vec<KernelPacket> {
        trace::group_packets(&self.trace)
    }

    /// Load a run previously written to `dir` (e.g. `scenarios/seed/kernel`), with
    /// `snapshot_dir` next to it.
    pub fn load(dir: &Path, snapshot_dir: &Path) -> Result<KernelRun, LabError> {
        let read = |n: &str| std::fs::read_to_string(dir.join(n)).map_err(|e| LabError::Io(dir.join(n), e));
        let raw_trace = read("trace.txt")?;
        let clients: Vec<ClientResult> =
            serde_json::from_str(&read("clients.json")?).map_err(|e| LabError::Other(e.to_string()))?;
        Ok(KernelRun {
            dir: dir.to_path_buf(),
            snapshot_dir: snapshot_dir.to_path_buf(),
            pcap: dir.join("cap.pcap"),
            trace: trace::parse_trace(&raw_trace),
            raw_trace,
            counters: read("counters.txt")?,
            log_lines: read("log.txt")?.lines().map(String::from).collect(),
            conntrack: read("conntrack.txt")?.lines().map(String::from).collect(),
            clients,
        })
    }
}

/// For kernel tests: true when the kernel lab can run (root). Without root, a test must not
/// pass silently: this panics unless `NFWALK_SKIP_KERNEL=1` says to skip, then returns false.
pub fn kernel_available() -> bool {
    if is_root() {
        return true;
    }
    if std::env::var("NFWALK_SKIP_KERNEL").as_deref() == Ok("1") {
        eprintln!("NFWALK_SKIP_KERNEL=1: skipping a kernel test (not root)");
        return false;
    }
    panic!("kernel tests need root; set NFWALK_SKIP_KERNEL=1 to skip them explicitly");
}

/// Is this process root? (Kernel runs need it.)
pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Build the scenario's namespaces and topology in `lab`.
pub fn build(lab: &mut Lab, sc: &Scenario) -> Result<(), LabError> {
    for ns in &sc.namespaces {
        lab.ns(ns)?;
        // No IPv6 chatter (RS/DAD/MLD) in the captures: the lab is IPv4-only.
        lab.sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")?;
        lab.sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")?;
    }
    for st in &sc.steps {
        match st {
            Step::Veth(a, ia, b, ib) => lab.veth(a, ia, b, ib)?,
            Step::Bridge(ns, n) => lab.bridge(ns, n)?,
            Step::Port(ns, br, p) => lab.bridge_port(ns, br, p)?,
            Step::Addr(ns, dev, cidr) => lab.addr(ns, dev, cidr)?,
            Step::Route(ns, spec) => {
                let v: Vec<&str> = spec.split_whitespace().collect();
                lab.route(ns, &v)?
            }
            Step::Sysctl(ns, k, v) => lab.sysctl(ns, k, v)?,
            Step::Cmd(ns, argv) => {
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                lab.exec_ok(ns, &argv)?;
            }
        }
    }
    Ok(())
}

/// The six snapshot files.
pub const SNAPSHOT_FILES: [&str; 6] = [
    "ip-link.json",
    "ip-addr.json",
    "ip-route.json",
    "ip-rule.json",
    "iptables-save.txt",
    "sysctl.txt",
];

/// Write the snapshot of namespace `ns` into `dir` with
/// [`nfwalk_parse::snapshot::collect_snapshot_in_netns`] (which also writes `collect.log`), and
/// fail unless all six [`SNAPSHOT_FILES`] were written.
pub fn snapshot(lab: &Lab, ns: &str, dir: &Path) -> Result<(), LabError> {
    nfwalk_parse::snapshot::collect_snapshot_in_netns(&lab.ns_name(ns), dir)
        .map_err(|e| LabError::Io(dir.to_path_buf(), e))?;
    for f in SNAPSHOT_FILES {
        if !dir.join(f).exists() {
            let log = std::fs::read_to_string(dir.join("collect.log")).unwrap_or_default();
            return Err(LabError::Other(format!("snapshot of {ns}: {f} missing\n{log}")));
        }
    }
    Ok(())
}

const TCP_SERVER: &str = r#"
import socket, sys
addr, port, reply = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode() + b"\r\n"
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port)); s.listen(16); print("READY", flush=True)
while True:
    c, peer = s.accept(); c.settimeout(10)
    try:
        d = c.recv(4096); print("GOT", peer, d, flush=True); c.sendall(reply)
    except Exception as e:
        print("ERR", e, flush=True)
    c.close()
"#;

const UDP_SERVER: &str = r#"
import socket, sys
addr, port, reply = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode() + b"\r\n"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((addr, port)); print("READY", flush=True)
while True:
    d, peer = s.recvfrom(4096); print("GOT", peer, d, flush=True); s.sendto(reply, peer)
"#;

const CLIENT: &str = r#"
import socket, sys
l4, src, sport, dst, dport, msg, t = sys.argv[1:8]
msg = msg.encode() + b"\r\n"
try:
    if l4 in ("tcp", "tcp-rst"):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((src, int(sport))); s.settimeout(float(t))
        s.connect((dst, int(dport))); s.sendall(msg); d = b""
        while True:
            x = s.recv(4096)
            if not x: break
            d += x
            if l4 == "tcp-rst" and d.endswith(b"\n"):
                import struct
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                break
        s.close()
    elif l4 == "icmp":
        import struct, time
        def csum(b):
            b += b"\0" * (len(b) % 2); x = sum(struct.unpack("!%dH" % (len(b) // 2), b))
            x = (x >> 16) + (x & 0xffff); x += x >> 16; return ~x & 0xffff
        eid, body = int(sport), msg.strip()
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.bind((src, 0))
        h = struct.pack("!BBHHH", 8, 0, 0, eid, 1)
        s.sendto(struct.pack("!BBHHH", 8, 0, csum(h + body), eid, 1) + body, (dst, 0))
        end = time.time() + float(t); d = None
        while d is None:
            left = end - time.time()
            if left <= 0: raise socket.timeout()
            s.settimeout(left); pkt, a = s.recvfrom(65535)
            icmp = pkt[(pkt[0] & 15) * 4:]
            if a[0] == dst and icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == eid:
                d = icmp[8:]
        s.close()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, int(sport))); s.settimeout(float(t))
        s.sendto(msg, (dst, int(dport))); d, _ = s.recvfrom(4096); s.close()
    print("REPLY " + d.decode().strip(), flush=True)
except socket.timeout:
    print("TIMEOUT", flush=True)
except ConnectionRefusedError:
    print("REFUSED", flush=True)
except Exception as e:
    print("ERROR " + repr(e), flush=True)
"#;

fn start_server(lab: &mut Lab, srv: &Server) -> Result<LabChild, LabError> {
    let script = match srv.l4 {
        L4::Tcp => TCP_SERVER,
        L4::Udp => UDP_SERVER,
        L4::TcpRst | L4::Icmp => {
            return Err(LabError::Other(format!(
                "server {}:{}: ICMP servers are the kernel itself",
                srv.addr, srv.port
            )))
        }
    };
    let port = srv.port.to_string();
    let mut child = lab.spawn(&srv.ns, &["python3", "-u", "-c", script, &srv.addr, &port, &srv.reply])?;
    if !poll_until(TIMEOUT, || {
        child.stdout().contains("READY") || child.try_wait().is_some()
    }) || !child.stdout().contains("READY")
    {
        return Err(LabError::NotReady(format!(
            "server {}:{} in {}: {}",
            srv.addr,
            srv.port,
            srv.ns,
            child.stderr()
        )));
    }
    Ok(child)
}

fn run_client(lab: &mut Lab, c: &Client) -> Result<Outcome, LabError> {
    let l4 = match c.l4 {
        L4::Tcp => "tcp",
        L4::Udp => "udp",
        L4::TcpRst => "tcp-rst",
        L4::Icmp => "icmp",
    };
    let (sport, dport, t) = (
        c.sport.to_string(),
        c.dport.to_string(),
        (c.timeout_ms as f64 / 1000.0).to_string(),
    );
    let mut child = lab.spawn(
        &c.ns,
        &[
            "python3", "-u", "-c", CLIENT, l4, &c.src, &sport, &c.dst, &dport, &c.send, &t,
        ],
    )?;
    let limit = Duration::from_millis(c.timeout_ms) + TIMEOUT;
    if child.wait_timeout(limit).is_none() {
        return Ok(Outcome::Error(format!("client did not finish in {limit:?}")));
    }
    let out = child.stdout();
    let line = out.lines().next().unwrap_or("").trim().to_string();
    Ok(if let Some(r) = line.strip_prefix("REPLY ") {
        Outcome::Reply(r.to_string())
    } else if line == "TIMEOUT" {
        Outcome::Timeout
    } else if line == "REFUSED" {
        Outcome::Refused
    } else {
        Outcome::Error(format!("{line} {}", child.stderr()))
    })
}

fn netlink_trace_listener(lab: &Lab, ns: &str) -> bool {
    // /proc/net/netlink: sk Eth Pid Groups …; NETLINK_NETFILTER = 12, NFNLGRP_NFTRACE = 9
    // → bit 1 << (9 - 1) in the first 32 groups.
    let Ok(out) = lab.exec(ns, &["cat", "/proc/net/netlink"]) else {
        return false;
    };
    String::from_utf8_lossy(&out.stdout).lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1] == "12" && u32::from_str_radix(f[3], 16).map(|g| g & 0x100 != 0).unwrap_or(false)
    })
}

fn dmesg_lines() -> Vec<String> {
    Command::new("dmesg")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(String::from).collect())
        .unwrap_or_default()
}

fn strip_ts(l: &str) -> String {
    match (l.starts_with('['), l.find("] ")) {
        (true, Some(i)) => l[i + 2..].to_string(),
        _ => l.to_string(),
    }
}

/// Lines of `after` that are new relative to `before` and look like netfilter LOG lines.
fn new_log_lines(before: &[String], after: &[String]) -> Vec<String> {
    // Lines newer than the newest line seen before, by timestamp when there is one (the ring
    // buffer may have wrapped, and a line may be missing from `after`), else by position.
    let ts = |l: &str| -> Option<f64> { l.strip_prefix('[')?.split(']').next()?.trim().parse().ok() };
    let last_ts = before.iter().rev().find_map(|l| ts(l));
    let start = match before.last() {
        Some(last) => after.iter().rposition(|l| l == last).map(|i| i + 1).unwrap_or(0),
        None => 0,
    };
    after[start..]
        .iter()
        .filter(|l| match (last_ts, ts(l)) {
            (Some(b), Some(a)) => a > b,
            _ => true,
        })
        .filter(|l| l.contains(" IN=") && l.contains(" OUT="))
        .map(|l| strip_ts(l))
        .collect()
}

fn ensure_root_sysctl() {
    // The only root-namespace change the lab makes: LOG lines from namespaces reach dmesg.
    let cur = std::fs::read_to_string("/proc/sys/net/netfilter/nf_log_all_netns").unwrap_or_default();
    if cur.trim() != "1" {
        let _ = Command::new("sysctl")
            .args(["-w", "net.netfilter.nf_log_all_netns=1"])
            .output();
    }
}

fn write(dir: &Path, name: &str, data: &[u8]) -> Result<(), LabError> {
    let p = dir.join(name);
    std::fs::write(&p, data).map_err(|e| LabError::Io(p, e))
}

/// An exclusive `flock` on /run/nfwalk-lab.lock, held for one kernel run and released on
/// drop (also when the process dies: the kernel drops the lock with the descriptor).
struct MachineLock(std::fs::File);

impl MachineLock {
    fn acquire() -> Result<MachineLock, LabError> {
        use std::os::fd::AsRawFd;
        let path = std::path::Path::new("/run/nfwalk-lab.lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| LabError::Io(path.to_path_buf(), e))?;
        // SAFETY: flock on a descriptor we own; blocks until the lock is ours.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(LabError::Io(path.to_path_buf(), std::io::Error::last_os_error()));
        }
        Ok(MachineLock(f))
    }
}

impl Drop for MachineLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking our own descriptor.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// Run `sc` on the real kernel. Output goes to `out` (created; existing files overwritten) or,
/// when `None`, to a fresh kept directory under the temp dir. Needs root.
pub fn run_kernel(sc: &Scenario, out: Option<&Path>) -> Result<KernelRun, LabError> {
    if !is_root() {
        return Err(LabError::NotRoot);
    }
    ensure_root_sysctl();
    // Kernel runs take turns machine-wide: LOG lines land in the one kernel log, and a
    // run's timing should not depend on another test process's traffic.
    let _turn = MachineLock::acquire()?;
    let mut lab = Lab::new(&sc.name);
    let dir = match out {
        Some(p) => p.to_path_buf(),
        None => std::env::temp_dir().join(format!("nfwk-kernel-{}-{}", lab.run_id(), sc.name)),
    };
    std::fs::create_dir_all(&dir).map_err(|e| LabError::Io(dir.clone(), e))?;
    let dir = dir.canonicalize().map_err(|e| LabError::Io(dir.clone(), e))?;
    let snapshot_dir = dir.join("snapshot");
    let host = sc.host.as_str();

    build(&mut lab, sc)?;
    lab.exec_stdin(host, &["iptables-restore"], sc.rules_v4.as_bytes())?;
    lab.exec_ok(host, &["iptables", "-t", "raw", "-I", "PREROUTING", "1", "-j", "TRACE"])?;
    lab.exec_ok(host, &["iptables", "-t", "raw", "-I", "OUTPUT", "1", "-j", "TRACE"])?;
    snapshot(&lab, host, &snapshot_dir)?;

    let mut servers = vec![];
    for srv in &sc.servers {
        servers.push(start_server(&mut lab, srv)?);
    }

    let dmesg_before = dmesg_lines();
    let mut monitor = lab.spawn(host, &["stdbuf", "-oL", "xtables-monitor", "--trace"])?;
    if !poll_until(TIMEOUT, || netlink_trace_listener(&lab, host)) {
        return Err(LabError::NotReady(format!("xtables-monitor: {}", monitor.stderr())));
    }
    let pcap = dir.join("cap.pcap");
    let _ = std::fs::remove_file(&pcap);
    let pcap_s = pcap.to_string_lossy().into_owned();
    let mut tcpdump = lab.spawn(
        host,
        &[
            "tcpdump",
            "-Z",
            "root",
            "--immediate-mode",
            "-s",
            "4096",
            "-B",
            "8192",
            "-i",
            "any",
            "-Q",
            "in",
            "-U",
            "-w",
            &pcap_s,
        ],
    )?;
    if !poll_until(TIMEOUT, || tcpdump.stderr().contains("listening on")) {
        return Err(LabError::NotReady(format!("tcpdump: {}", tcpdump.stderr())));
    }

    // Note: with the default snaplen (262144) and buffer (2 MiB) the immediate-mode ring holds
    // only a handful of frames and the kernel drops bursts ("N packets dropped by kernel"),
    // hence -s 4096 -B 8192.
    // Zero the counters of every table that exists, so they reflect only the traffic.
    let save = lab.exec_ok(host, &["iptables-save"])?;
    let tables: Vec<String> = String::from_utf8_lossy(&save.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix('*').map(|t| t.trim().to_string()))
        .collect();
    for t in &tables {
        lab.exec_ok(host, &["iptables", "-t", t, "-Z"])?;
    }

    let mut clients = vec![];
    for c in &sc.clients {
        let outcome = run_client(&mut lab, c)?;
        clients.push(ClientResult {
            client: c.clone(),
            outcome,
        });
    }

    // Quiescence: the trace file has not grown for 500 ms (at most TIMEOUT).
    let trace_path = monitor.stdout_path.clone();
    let size = || std::fs::metadata(&trace_path).map(|m| m.len()).unwrap_or(0);
    let (mut last, mut since) = (size(), Instant::now());
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let now = size();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= Duration::from_millis(500) {
            break;
        }
    }

    tcpdump.stop(libc::SIGINT, TIMEOUT);
    monitor.stop(libc::SIGTERM, TIMEOUT);
    for mut s in servers {
        s.kill();
    }

    let counters = String::from_utf8_lossy(&lab.exec_ok(host, &["iptables-save", "-c"])?.stdout).into_owned();
    let log_lines = new_log_lines(&dmesg_before, &dmesg_lines());
    let ct = lab.exec(host, &["conntrack", "-L"])?;
    let conntrack: Vec<String> = String::from_utf8_lossy(&ct.stdout).lines().map(String::from).collect();
    let raw_trace = monitor.stdout();

    write(&dir, "trace.txt", raw_trace.as_bytes())?;
    write(&dir, "counters.txt", counters.as_bytes())?;
    write(
        &dir,
        "log.txt",
        log_lines
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .as_bytes(),
    )?;
    write(
        &dir,
        "conntrack.txt",
        conntrack
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .as_bytes(),
    )?;
    write(
        &dir,
        "clients.json",
        serde_json::to_string_pretty(&clients).expect("serialisable").as_bytes(),
    )?;
    write(&dir, "rules.v4", sc.rules_v4.as_bytes())?;

    lab.destroy();
    Ok(KernelRun {
        dir,
        snapshot_dir,
        pcap,
        trace: trace::parse_trace(&raw_trace),
        raw_trace,
        counters,
        log_lines,
        conntrack,
        clients,
    })
}
