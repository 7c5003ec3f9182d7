//! Network-namespace topology builder with guaranteed cleanup.
//!
//! Every interface is created inside a lab namespace in one command (`ip -n A link add X type
//! veth peer name Y netns B`); nothing in the root namespace is ever created, moved or changed.
//! Namespaces are named `nfwk-<run>-<name>` where `<run>` is `<pid>x<counter>`, so parallel labs
//! never collide and `scripts/lab-clean` can tell a dead run's leftovers from a live one's.
//!
//! Cleanup happens on [`Drop`] (including unwinding panics) and on SIGINT/SIGTERM (a signal
//! handler that only uses async-signal-safe syscalls: kill the spawned processes, detach-unmount
//! and unlink `/run/netns/<name>`, then re-raise the signal).

use std::ffi::CString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use crate::LabError;

/// Default timeout for anything the lab waits on.
pub const TIMEOUT: Duration = Duration::from_secs(10);

static RUN_COUNTER: AtomicU32 = AtomicU32::new(0);

// ---- signal-safe registry ---------------------------------------------------------------

const MAX_NS: usize = 256;
const MAX_PIDS: usize = 1024;
static NS_PATHS: [AtomicPtr<libc::c_char>; MAX_NS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_NS];
static PIDS: [AtomicI32; MAX_PIDS] = [const { AtomicI32::new(0) }; MAX_PIDS];
static HANDLER: Once = Once::new();

fn register_ns(name: &str) {
    let path = CString::new(format!("/run/netns/{name}")).expect("no NUL in ns name");
    let raw = path.into_raw();
    for slot in NS_PATHS.iter() {
        if slot
            .compare_exchange(std::ptr::null_mut(), raw, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
    // Registry full: the Drop guard still cleans up; only signal cleanup is lost.
    drop(unsafe { CString::from_raw(raw) });
}

fn unregister_ns(name: &str) {
    let want = format!("/run/netns/{name}");
    for slot in NS_PATHS.iter() {
        let p = slot.load(Ordering::SeqCst);
        if p.is_null() {
            continue;
        }
        let s = unsafe { std::ffi::CStr::from_ptr(p) };
        if s.to_bytes() == want.as_bytes()
            && slot
                .compare_exchange(p, std::ptr::null_mut(), Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            drop(unsafe { CString::from_raw(p) });
            return;
        }
    }
}

fn register_pid(pid: i32) {
    for slot in PIDS.iter() {
        if slot
            .compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
}

fn unregister_pid(pid: i32) {
    for slot in PIDS.iter() {
        if slot
            .compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe calls here.
    for slot in PIDS.iter() {
        let pid = slot.load(Ordering::SeqCst);
        if pid > 0 {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    for slot in NS_PATHS.iter() {
        let p = slot.load(Ordering::SeqCst);
        if !p.is_null() {
            unsafe {
                libc::umount2(p, libc::MNT_DETACH);
                libc::unlink(p);
            }
        }
    }
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

fn install_handler() {
    HANDLER.call_once(|| unsafe {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    });
}

// ---- the lab ----------------------------------------------------------------------------

/// A process started inside a lab namespace. Killed (SIGKILL) when dropped unless waited.
pub struct LabChild {
    child: Option<Child>,
    /// Where its stdout goes.
    pub stdout_path: PathBuf,
    /// Where its stderr goes.
    pub stderr_path: PathBuf,
}

impl LabChild {
    /// The process id (of `ip netns exec`, which execs into the command).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Send a signal (e.g. `libc::SIGINT`).
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            unsafe { libc::kill(c.id() as i32, sig) };
        }
    }

    /// Has it exited? Returns its exit code (or -signal) if so.
    pub fn try_wait(&mut self) -> Option<i32> {
        let c = self.child.as_mut()?;
        match c.try_wait() {
            Ok(Some(st)) => Some(exit_code(st)),
            _ => None,
        }
    }

    /// Wait up to `timeout` for exit; kill it if it does not exit in time.
    /// Returns the exit code, or `None` if it had to be killed.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(code) = self.try_wait() {
                self.forget();
                return Some(code);
            }
            if Instant::now() >= deadline {
                self.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Signal `sig`, then wait up to `timeout` (SIGKILL after that).
    pub fn stop(&mut self, sig: i32, timeout: Duration) -> Option<i32> {
        self.signal(sig);
        self.wait_timeout(timeout)
    }

    /// Current stdout contents.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Current stderr contents.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Kill now and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            unregister_pid(c.id() as i32);
        }
    }

    fn forget(&mut self) {
        if let Some(c) = self.child.take() {
            unregister_pid(c.id() as i32);
        }
    }
}

impl Drop for LabChild {
    fn drop(&mut self) {
        self.kill();
    }
}

fn exit_code(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code().unwrap_or_else(|| -st.signal().unwrap_or(0))
}

/// A set of network namespaces that live as long as this value.
pub struct Lab {
    name: String,
    run: String,
    namespaces: Vec<String>,
    work: PathBuf,
    spawn_counter: u32,
    children: Vec<i32>,
}

impl Lab {
    /// A new, empty lab. Its work directory (for spawned processes' output) is
    /// `$TMPDIR/nfwk-<run>-<name>`. Installs the SIGINT/SIGTERM cleanup handler.
    pub fn new(name: &str) -> Lab {
        install_handler();
        let n = RUN_COUNTER.fetch_add(1, Ordering::SeqCst);
        let run = format!("{}x{}", std::process::id(), n);
        let work = std::env::temp_dir().join(format!("nfwk-{run}-{name}"));
        let _ = std::fs::remove_dir_all(&work);
        let _ = std::fs::create_dir_all(&work);
        Lab {
            name: name.to_string(),
            run,
            namespaces: vec![],
            work,
            spawn_counter: 0,
            children: vec![],
        }
    }

    /// The lab's name (as given to [`Lab::new`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The unique run id, `<pid>x<counter>`.
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// The lab's scratch directory.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// The full namespace name for a short name: `nfwk-<run>-<short>`.
    pub fn ns_name(&self, short: &str) -> String {
        format!("nfwk-{}-{}", self.run, short)
    }

    /// Create namespace `nfwk-<run>-<short>` (with `lo` up) and return its full name.
    pub fn ns(&mut self, short: &str) -> Result<String, LabError> {
        let full = self.ns_name(short);
        if self.namespaces.contains(&full) {
            return Ok(full);
        }
        register_ns(&full);
        run_checked(Command::new("ip").args(["netns", "add", &full]))?;
        self.namespaces.push(full.clone());
        self.ip(short, &["link", "set", "lo", "up"])?;
        Ok(full)
    }

    fn full(&self, short: &str) -> Result<String, LabError> {
        let full = self.ns_name(short);
        if self.namespaces.contains(&full) {
            Ok(full)
        } else {
            Err(LabError::NoSuchNamespace(short.to_string()))
        }
    }

    /// `ip -n <ns> <args…>`, checked.
    pub fn ip(&self, ns: &str, args: &[&str]) -> Result<Output, LabError> {
        let full = self.full(ns)?;
        run_checked(Command::new("ip").arg("-n").arg(&full).args(args))
    }

    /// A veth pair born with one end in each namespace (`ip -n A link add a type veth peer name
    /// b netns B`); both ends are set up.
    pub fn veth(&self, ns_a: &str, if_a: &str, ns_b: &str, if_b: &str) -> Result<(), LabError> {
        let full_b = self.full(ns_b)?;
        self.ip(
            ns_a,
            &[
                "link", "add", if_a, "type", "veth", "peer", "name", if_b, "netns", &full_b,
            ],
        )?;
        // No multicast: the IGMP reports a link sends on its own would be host-originated
        // noise in the kernel's trace and counters.
        self.ip(ns_a, &["link", "set", if_a, "multicast", "off"])?;
        self.ip(ns_b, &["link", "set", if_b, "multicast", "off"])?;
        self.ip(ns_a, &["link", "set", if_a, "up"])?;
        self.ip(ns_b, &["link", "set", if_b, "up"])?;
        Ok(())
    }

    /// A bridge created inside `ns`, set up.
    pub fn bridge(&self, ns: &str, name: &str) -> Result<(), LabError> {
        self.ip(ns, &["link", "add", name, "type", "bridge"])?;
        self.ip(ns, &["link", "set", name, "multicast", "off"])?;
        self.ip(ns, &["link", "set", name, "up"])?;
        Ok(())
    }

    /// Enslave `port` to `bridge` (both in `ns`).
    pub fn bridge_port(&self, ns: &str, bridge: &str, port: &str) -> Result<(), LabError> {
        self.ip(ns, &["link", "set", port, "master", bridge])?;
        self.ip(ns, &["link", "set", port, "up"])?;
        Ok(())
    }

    /// Add an address, e.g. `addr("host", "enp1s0", "198.51.100.1/24")`.
    pub fn addr(&self, ns: &str, dev: &str, cidr: &str) -> Result<(), LabError> {
        self.ip(ns, &["addr", "add", cidr, "dev", dev])?;
        Ok(())
    }

    /// Add a route: `route("ctr", &["default", "via", "172.17.0.1"])`.
    pub fn route(&self, ns: &str, spec: &[&str]) -> Result<(), LabError> {
        let mut args = vec!["route", "add"];
        args.extend_from_slice(spec);
        self.ip(ns, &args)?;
        Ok(())
    }

    /// Set a sysctl inside `ns` (`sysctl -w key=value`). For `net.bridge.*` keys it first makes
    /// sure `/proc/sys/net/bridge` exists (loading `br_netfilter` if needed).
    pub fn sysctl(&self, ns: &str, key: &str, value: &str) -> Result<(), LabError> {
        if key.starts_with("net.bridge.") {
            let probe = self.exec(ns, &["test", "-d", "/proc/sys/net/bridge"])?;
            if !probe.status.success() {
                let _ = Command::new("modprobe").arg("br_netfilter").output();
            }
        }
        let kv = format!("{key}={value}");
        let out = self.exec(ns, &["sysctl", "-w", &kv])?;
        check(&["sysctl", "-w", &kv], out).map(|_| ())
    }

    /// Run a command inside `ns` and wait for it (no timeout: use for short commands).
    pub fn exec(&self, ns: &str, cmd: &[&str]) -> Result<Output, LabError> {
        let full = self.full(ns)?;
        Command::new("ip")
            .args(["netns", "exec", &full])
            .args(cmd)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| LabError::Spawn(cmd.join(" "), e))
    }

    /// Like [`Lab::exec`] but fails if the command's exit status is not 0.
    pub fn exec_ok(&self, ns: &str, cmd: &[&str]) -> Result<Output, LabError> {
        let out = self.exec(ns, cmd)?;
        check(cmd, out)
    }

    /// Run a command inside `ns` with `input` on stdin, checked.
    pub fn exec_stdin(&self, ns: &str, cmd: &[&str], input: &[u8]) -> Result<Output, LabError> {
        use std::io::Write;
        let full = self.full(ns)?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &full])
            .args(cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| LabError::Spawn(cmd.join(" "), e))?;
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(input)
            .map_err(|e| LabError::Spawn(cmd.join(" "), e))?;
        let out = child
            .wait_with_output()
            .map_err(|e| LabError::Spawn(cmd.join(" "), e))?;
        check(cmd, out)
    }

    /// Start a command inside `ns` in the background; stdout/stderr go to files in the lab's
    /// work directory. The process is killed when the returned [`LabChild`] is dropped, and on
    /// SIGINT/SIGTERM.
    pub fn spawn(&mut self, ns: &str, cmd: &[&str]) -> Result<LabChild, LabError> {
        let full = self.full(ns)?;
        self.spawn_counter += 1;
        let stem = format!(
            "{:02}-{}-{}",
            self.spawn_counter,
            ns,
            sanitize(cmd.first().copied().unwrap_or("cmd"))
        );
        let stdout_path = self.work.join(format!("{stem}.out"));
        let stderr_path = self.work.join(format!("{stem}.err"));
        let out = File::create(&stdout_path).map_err(|e| LabError::Io(stdout_path.clone(), e))?;
        let err = File::create(&stderr_path).map_err(|e| LabError::Io(stderr_path.clone(), e))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &full])
            .args(cmd)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| LabError::Spawn(cmd.join(" "), e))?;
        let pid = child.id() as i32;
        register_pid(pid);
        self.children.push(pid);
        Ok(LabChild {
            child: Some(child),
            stdout_path,
            stderr_path,
        })
    }

    /// Delete every namespace now (also done on drop).
    pub fn destroy(&mut self) {
        for pid in self.children.drain(..) {
            // Only kill if still registered (i.e. not yet reaped by its LabChild).
            if PIDS.iter().any(|s| s.load(Ordering::SeqCst) == pid) {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        for ns in self.namespaces.drain(..).rev() {
            // Kill anything still running inside the namespace (e.g. grandchildren).
            if let Ok(out) = Command::new("ip").args(["netns", "pids", &ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if let Ok(p) = pid.parse::<i32>() {
                        unsafe { libc::kill(p, libc::SIGKILL) };
                    }
                }
            }
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
            unregister_ns(&ns);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.destroy();
        if std::env::var_os("NFWALK_KEEP_WORK").is_none() {
            let _ = std::fs::remove_dir_all(&self.work);
        }
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn run_checked(cmd: &mut Command) -> Result<Output, LabError> {
    let desc = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Spawn(desc.clone(), e))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(LabError::Command {
            cmd: desc,
            status: exit_code(out.status),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

fn check(cmd: &[&str], out: Output) -> Result<Output, LabError> {
    if out.status.success() {
        Ok(out)
    } else {
        Err(LabError::Command {
            cmd: cmd.join(" "),
            status: exit_code(out.status),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Poll `cond` every 20 ms until it is true or `timeout` passes. Returns whether it held.
pub fn poll_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
