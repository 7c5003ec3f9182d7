//! The kernel is the judge of lint's listener exposure (NFW011/NFW012): real sockets listen in
//! a lab "host" namespace (a --net=host redis on 0.0.0.0:6379, a UDP service on 0.0.0.0:5300,
//! a loopback-only socket), nfwalk takes a snapshot of that namespace (with `ss -H -ltnu` into
//! listeners.txt) and lints it; a client namespace then really connects: every socket the lint
//! calls exposed answers, the loopback one does not, and the lint's verified fix, loaded into
//! the kernel, closes the exposure.
//! Needs root: without it these tests FAIL unless NFWALK_SKIP_KERNEL=1 is set.

use nfwalk_analyze::{lint, LintInput, Severity};
use nfwalk_lab::{poll_until, Lab, LabChild, Scenario, Step, TIMEOUT};

use nfwalk_lab::kernel_available;

/// INPUT DROP (the admin means to deny), ssh allowed, and an `allow from the LAN` rule meant
/// for ssh that lets everything from 198.51.100.0/24 in.
const RULES: &str = "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -s 198.51.100.0/24 -j ACCEPT
COMMIT
";

const SERVER: &str = r#"
import socket, sys
l4, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if l4 == "tcp":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(16); print("READY", flush=True)
    while True:
        c, _ = s.accept(); c.settimeout(5)
        try:
            c.recv(100); c.sendall(b"OK\n")
        except Exception:
            pass
        c.close()
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((addr, port)); print("READY", flush=True)
    while True:
        d, peer = s.recvfrom(100); s.sendto(b"OK\n", peer)
"#;

const CLIENT: &str = r#"
import socket, sys
l4, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    if l4 == "tcp":
        s = socket.create_connection((dst, port), timeout=2); s.sendall(b"HI\n"); d = s.recv(100)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.sendto(b"HI\n", (dst, port)); d, _ = s.recvfrom(100)
    print("REPLY " + d.decode().strip())
except socket.timeout:
    print("TIMEOUT")
except ConnectionRefusedError:
    print("REFUSED")
except Exception as e:
    print("ERROR " + repr(e))
"#;

fn topology() -> Scenario {
    let s = |x: &str| x.to_string();
    Scenario {
        name: s("listen"),
        namespaces: vec![s("host"), s("client")],
        host: s("host"),
        steps: vec![
            Step::Veth(s("host"), s("enp1s0"), s("client"), s("up0")),
            Step::Addr(s("host"), s("enp1s0"), s("198.51.100.1/24")),
            Step::Addr(s("client"), s("up0"), s("198.51.100.10/24")),
        ],
        rules_v4: RULES.into(),
        servers: vec![],
        clients: vec![],
    }
}

fn serve(lab: &mut Lab, l4: &str, addr: &str, port: u16) -> LabChild {
    let p = port.to_string();
    let mut c = lab
        .spawn("host", &["python3", "-u", "-c", SERVER, l4, addr, &p])
        .expect("spawn server");
    assert!(
        poll_until(TIMEOUT, || c.stdout().contains("READY") || c.try_wait().is_some()) && c.stdout().contains("READY"),
        "server {l4} {addr}:{port}: {}",
        c.stderr()
    );
    c
}

fn talk(lab: &Lab, l4: &str, dst: &str, port: u16) -> String {
    let out = lab
        .exec("client", &["python3", "-c", CLIENT, l4, dst, &port.to_string()])
        .expect("client runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn exposed_listeners_answer_real_clients_and_the_fix_closes_them() {
    if !kernel_available() {
        return;
    }
    let sc = topology();
    let mut lab = Lab::new("listen");
    nfwalk_lab::runner::build(&mut lab, &sc).expect("topology");
    lab.exec_stdin("host", &["iptables-restore"], RULES.as_bytes())
        .expect("rules load");
    let _redis = serve(&mut lab, "tcp", "0.0.0.0", 6379);
    let _dns = serve(&mut lab, "udp", "0.0.0.0", 5300);
    let _local = serve(&mut lab, "tcp", "127.0.0.1", 6380);

    let dir = lab.work_dir().join("snapshot");
    nfwalk_parse::snapshot::collect_snapshot_in_netns(&lab.ns_name("host"), &dir).expect("snapshot");
    let (host, _) = nfwalk_parse::snapshot::load_snapshot(&dir).expect("snapshot loads");
    let ports: Vec<u16> = host.listeners.iter().map(|l| l.port).collect();
    assert!(
        ports.contains(&6379) && ports.contains(&5300) && ports.contains(&6380),
        "listeners.txt: {:?}",
        host.listeners
    );
    let text = std::fs::read_to_string(dir.join("iptables-save.txt")).expect("iptables-save.txt");
    let f = lint(&LintInput {
        host: &host,
        text: Some(&text),
        legacy: None,
    });
    let exposed: Vec<&nfwalk_analyze::Finding> =
        f.iter().filter(|x| x.code == "NFW011" || x.code == "NFW012").collect();
    let on = |port: u16| exposed.iter().find(|x| x.message.contains(&format!(":{port} ")));
    for port in [6379, 5300] {
        let x = on(port).unwrap_or_else(|| panic!("no exposure finding for {port}: {f:#?}"));
        assert_eq!((x.code, x.severity), ("NFW012", Severity::Warning), "{x:#?}");
        assert!(
            x.message.contains("although INPUT's policy is DROP")
                && x.message.contains("-A INPUT -s 198.51.100.0/24 -j ACCEPT"),
            "{}",
            x.message
        );
    }
    assert!(on(6380).is_none(), "loopback-only socket reported: {exposed:#?}");

    // The kernel agrees: both exposed sockets answer a client from outside; the loopback one
    // cannot be reached on the host's address.
    assert_eq!(talk(&lab, "tcp", "198.51.100.1", 6379), "REPLY OK");
    assert_eq!(talk(&lab, "udp", "198.51.100.1", 5300), "REPLY OK");
    assert_eq!(talk(&lab, "tcp", "198.51.100.1", 6380), "REFUSED");

    // The lint's fix for redis (explain's, verified on the walk) closes it on the kernel too,
    // and leaves the UDP service as it was.
    let fix = on(6379).and_then(|x| x.fix.clone()).expect("NFW012 carries a fix");
    let argv: Vec<&str> = fix.split_whitespace().collect();
    assert_eq!(argv.first(), Some(&"iptables"), "{fix}");
    lab.exec_ok("host", &argv).unwrap_or_else(|e| panic!("{fix}: {e}"));
    assert_eq!(talk(&lab, "tcp", "198.51.100.1", 6379), "TIMEOUT", "after {fix}");
    assert_eq!(talk(&lab, "udp", "198.51.100.1", 5300), "REPLY OK", "after {fix}");
    lab.destroy();
}
