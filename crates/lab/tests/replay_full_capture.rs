//! `nfwalk replay` of a capture in both directions (`tcpdump -i any`, no `-Q in`): the host's
//! own packets (pkt_type OUTGOING) are walked from OUTPUT, so a connection to a host service
//! reaches ESTABLISHED as in the kernel. Compared with the kernel's `conntrack -L`.
//! Needs root; fails loudly unless NFWALK_SKIP_KERNEL=1.

use nfwalk_lab::{kernel_available, poll_until, Lab};
use nfwalk_walk::replay::{replay, Frame, Replayed};
use nfwalk_walk::Walker;
use std::time::Duration;

const RULES: &str = "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 8097 -m conntrack --ctstate NEW -j ACCEPT
COMMIT
";

const SERVER: &str = "import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('198.51.100.1', 8097)); s.listen(1)
c,_=s.accept(); c.recv(100); c.sendall(b'FULL'); c.close()
";

const CLIENT: &str = "import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('198.51.100.10', 40120)); s.settimeout(5)
s.connect(('198.51.100.1', 8097)); s.sendall(b'hi'); print(s.recv(100).decode()); s.close()
";

#[test]
fn host_service_connection_from_a_two_way_capture() {
    if !kernel_available() {
        return;
    }
    let mut lab = Lab::new("fullcap");
    lab.ns("host").unwrap();
    lab.ns("client").unwrap();
    lab.veth("host", "enp1s0", "client", "up0").unwrap();
    lab.addr("host", "enp1s0", "198.51.100.1/24").unwrap();
    lab.addr("client", "up0", "198.51.100.10/24").unwrap();
    lab.exec_stdin("host", &["iptables-restore"], RULES.as_bytes()).unwrap();
    let dir = lab.work_dir().join("fullcap");
    std::fs::create_dir_all(&dir).unwrap();
    nfwalk_lab::runner::snapshot(&lab, "host", &dir.join("snapshot")).unwrap();
    let pcap = dir.join("cap.pcap");
    let mut dump = lab
        .spawn(
            "host",
            &[
                "tcpdump",
                "-i",
                "any",
                "--immediate-mode",
                "-s",
                "4096",
                "-B",
                "8192",
                "-U",
                "-w",
                pcap.to_str().unwrap(),
                "tcp",
            ],
        )
        .unwrap();
    assert!(
        poll_until(Duration::from_secs(10), || dump.stderr().contains("listening on")),
        "tcpdump ready"
    );
    let mut server = lab.spawn("host", &["python3", "-c", SERVER]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = lab.exec("client", &["python3", "-c", CLIENT]).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "FULL",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.wait_timeout(Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    dump.stop(libc_sigint(), Duration::from_secs(10));
    let kernel_ct = String::from_utf8_lossy(&lab.exec("host", &["conntrack", "-L"]).unwrap().stdout).to_string();

    let (host, _) = nfwalk_parse::snapshot::load_snapshot(&dir.join("snapshot")).unwrap();
    let bytes = std::fs::read(&pcap).unwrap();
    let names = |i: u32| host.iface_by_index(i).map(|x| x.name.clone());
    let frames: Vec<Frame> = nfwalk_parse::pcap::read_pcap(&bytes, &names, None)
        .unwrap()
        .into_iter()
        .map(|f| Frame {
            index: f.index,
            iface: f.iface,
            packet: f.packet,
            skipped: f.skipped,
            outgoing: f.pkt_type == Some(4),
        })
        .collect();
    assert!(frames.iter().any(|f| f.outgoing), "the capture has the host's packets");
    let mut w = Walker::new(&host);
    let results = replay(&mut w, &frames);
    let mut walked = 0;
    for r in &results {
        if let Replayed::Walked { frame, trace } = r {
            walked += 1;
            assert_eq!(
                trace.fate.verdict(),
                "accept",
                "frame {frame}: {}",
                trace.fate.describe()
            );
            assert_ne!(trace.ct_state, "INVALID", "frame {frame}");
        }
    }
    assert!(walked >= 8, "both directions walked ({walked})");
    // The same conntrack entry as the kernel's (state, tuples, flags; not the seconds left).
    let norm = |l: &str| -> String {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.iter()
            .enumerate()
            .filter(|(i, x)| *i != 2 && !x.starts_with("use="))
            .map(|(_, x)| *x)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let kernel: Vec<String> = kernel_ct.lines().filter(|l| l.starts_with("tcp")).map(norm).collect();
    let ours: Vec<String> = w.conntrack.conns().map(|c| norm(&c.conntrack_line())).collect();
    assert_eq!(kernel, ours, "conntrack");
}

fn libc_sigint() -> i32 {
    2
}
