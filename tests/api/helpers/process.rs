//! Child processes of the tests that drive the `keymint` binary.

/// A child process (a `keymint serve`), killed and reaped when dropped: a failed
/// test leaves no server behind.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `cmd` (a `keymint serve` told to listen on port 0) with its stderr read
/// on a thread of its own, and waits for the address it logs: the running process
/// and `http://<address>`. Every test that runs a server process starts it here.
pub fn serve(mut cmd: std::process::Command) -> (Running, String) {
    use std::process::Stdio;
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("keymint runs");
    let rx = logged_address(child.stderr.take().expect("stderr is piped"));
    let running = Running(child);
    let addr = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("keymint serve reports the address it listens on");
    (running, format!("http://{addr}"))
}

/// Reads a `keymint serve` child's stderr on a thread of its own and hands over the
/// address it logs as `listening addr=...` (it binds port 0 itself).
pub fn logged_address(stderr: std::process::ChildStderr) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("addr=").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    rx
}

/// The credentials a first `keymint serve` prints on its stdout (`client_id: ...`,
/// `client_secret: ...`), read up to the secret.
pub fn printed_credentials(
    stdout: std::process::ChildStdout,
) -> std::collections::HashMap<String, String> {
    use std::io::BufRead;
    let mut creds = std::collections::HashMap::new();
    for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some((k, v)) = line.trim().split_once(": ") {
            creds.insert(k.trim().to_string(), v.trim().to_string());
        }
        if creds.contains_key("client_secret") {
            break;
        }
    }
    creds
}

/// Every line of a child's stderr, passed on from a thread of its own.
pub fn stderr_lines(stderr: std::process::ChildStderr) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}
