//! Everything every app of this test process logs, captured so tests can prove
//! what is logged and that no secret ever is.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Everything logged by any app in this test process.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = self.0.lock() {
            logs.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(super) fn init_logs() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,hyper=info,h2=info,reqwest=info,rustls=info")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    });
}

/// Everything logged so far by every app in this process.
pub fn captured_logs() -> String {
    init_logs();
    let logs =
        LOGS.get().map(|l| l.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
    String::from_utf8_lossy(&logs).into_owned()
}
