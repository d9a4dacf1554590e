//! systemd's notify protocol (`sd_notify(3)`), without a crate: one
//! datagram of `KEY=VALUE` lines to the socket named by `$NOTIFY_SOCKET`.
//!
//! Written by hand rather than with `sd-notify` because that crate does not
//! support abstract (`@`) socket names (traps.md), and the protocol is ten
//! lines. Like libsystemd, a missing `$NOTIFY_SOCKET` makes every call a
//! no-op: the same binary runs under systemd, in a container and in tests.
//!
//! The watchdog is armed by `WatchdogSec=` in the unit; systemd passes the
//! period in `$WATCHDOG_USEC` (and `$WATCHDOG_PID`, which must be ours). We
//! ping at half the period, and only from the engine loop, so a wedged
//! engine stops the pings and systemd restarts the daemon.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Why a notification could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// `$NOTIFY_SOCKET` is neither an absolute path nor `@name`.
    #[error("NOTIFY_SOCKET={0:?} is neither an absolute path nor an abstract @name")]
    BadAddress(String),
    /// Creating the socket or sending failed.
    #[error("sending to the notify socket failed: {0}")]
    Io(#[from] io::Error),
}

/// A handle to the service manager's notify socket; cheap to clone and
/// shared by the daemon's tasks and the engine thread.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    inner: Option<Arc<Inner>>,
    watchdog: Option<Duration>,
}

#[derive(Debug)]
struct Inner {
    socket: UnixDatagram,
    address: SocketAddr,
}

impl Notifier {
    /// A notifier that sends nothing (no service manager).
    pub fn disabled() -> Self {
        Self::default()
    }

    /// From the environment systemd sets up: `$NOTIFY_SOCKET`,
    /// `$WATCHDOG_USEC` and `$WATCHDOG_PID`. Without `$NOTIFY_SOCKET` the
    /// notifier is disabled.
    pub fn from_env() -> Result<Self, NotifyError> {
        let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
            return Ok(Self::disabled());
        };
        let watchdog = watchdog_from_env(
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
        );
        Self::new(&socket.to_string_lossy(), watchdog)
    }

    /// To an explicit socket (`/path` or `@abstract`) with an optional
    /// watchdog period (the `WatchdogSec=` value, not the ping interval).
    pub fn new(socket: &str, watchdog: Option<Duration>) -> Result<Self, NotifyError> {
        let address = if let Some(name) = socket.strip_prefix('@') {
            abstract_address(name)?
        } else if socket.starts_with('/') {
            SocketAddr::from_pathname(PathBuf::from(socket))
                .map_err(|_| NotifyError::BadAddress(socket.to_owned()))?
        } else {
            return Err(NotifyError::BadAddress(socket.to_owned()));
        };
        let socket = UnixDatagram::unbound()?;
        // Never block the caller: the watchdog ping is sent from the engine
        // loop, and a blocking send to a manager that stopped reading (its
        // queue holds ten datagrams by default) would wedge tracking. A
        // full queue returns EAGAIN, reported like any failed send.
        socket.set_nonblocking(true)?;
        Ok(Self {
            inner: Some(Arc::new(Inner { socket, address })),
            watchdog,
        })
    }

    /// Whether notifications go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// How often to send `WATCHDOG=1`: half the watchdog period, the margin
    /// `sd_watchdog_enabled(3)` recommends; `None` if no watchdog is armed.
    pub fn watchdog_ping_interval(&self) -> Option<Duration> {
        self.watchdog.map(|period| period / 2)
    }

    /// Sends `state` lines (e.g. `["READY=1", "STATUS=running"]`) in one
    /// datagram. A no-op when disabled.
    pub fn notify(&self, state: &[&str]) -> Result<(), NotifyError> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let message = state.join("\n");
        inner
            .socket
            .send_to_addr(message.as_bytes(), &inner.address)?;
        Ok(())
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) -> Result<(), NotifyError> {
        self.notify(&["READY=1", &format!("STATUS={status}")])
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) -> Result<(), NotifyError> {
        self.notify(&["WATCHDOG=1"])
    }

    /// `STATUS=...`, shown by `systemctl status`.
    pub fn status(&self, status: &str) -> Result<(), NotifyError> {
        self.notify(&[&format!("STATUS={status}")])
    }

    /// `STOPPING=1` with a status line.
    pub fn stopping(&self, status: &str) -> Result<(), NotifyError> {
        self.notify(&["STOPPING=1", &format!("STATUS={status}")])
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_address(name: &str) -> Result<SocketAddr, NotifyError> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    Ok(SocketAddr::from_abstract_name(name.as_bytes())?)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_address(name: &str) -> Result<SocketAddr, NotifyError> {
    Err(NotifyError::BadAddress(format!("@{name}")))
}

/// The watchdog period from `$WATCHDOG_USEC`, if it is set, positive, and
/// `$WATCHDOG_PID` (when set) is this process.
fn watchdog_from_env(usec: Option<&str>, pid: Option<&str>) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    Some(Duration::from_micros(usec))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn sends_datagrams_to_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("picketd-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let notifier =
            Notifier::new(path.to_str().unwrap(), Some(Duration::from_secs(10))).unwrap();
        assert_eq!(
            notifier.watchdog_ping_interval(),
            Some(Duration::from_secs(5))
        );
        notifier.ready("up").unwrap();
        notifier.watchdog().unwrap();
        let mut buffer = [0u8; 256];
        let n = listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"READY=1\nSTATUS=up");
        let n = listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"WATCHDOG=1");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sends_datagrams_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("picketd-notify-test-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&address).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let notifier = Notifier::new(&format!("@{name}"), None).unwrap();
        notifier.status("hello").unwrap();
        let mut buffer = [0u8; 64];
        let n = listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"STATUS=hello");
    }

    #[test]
    fn disabled_is_a_silent_no_op() {
        let notifier = Notifier::disabled();
        assert!(!notifier.is_enabled());
        notifier.ready("x").unwrap();
        assert_eq!(notifier.watchdog_ping_interval(), None);
    }

    #[test]
    fn relative_addresses_are_rejected() {
        assert!(matches!(
            Notifier::new("relative.sock", None),
            Err(NotifyError::BadAddress(_))
        ));
    }

    #[test]
    fn watchdog_env_is_checked() {
        let me = std::process::id().to_string();
        assert_eq!(
            watchdog_from_env(Some("2000000"), Some(&me)),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            watchdog_from_env(Some("2000000"), None),
            Some(Duration::from_secs(2))
        );
        assert_eq!(watchdog_from_env(Some("2000000"), Some("1")), None);
        assert_eq!(watchdog_from_env(Some("0"), None), None);
        assert_eq!(watchdog_from_env(None, None), None);
        assert_eq!(watchdog_from_env(Some("x"), None), None);
    }
}
