//! `echod`: a TCP echo server for the real-packet tests that hold many
//! connections at once (run in a namespace of their own, so its
//! descriptors do not count against the client's).
//!
//! ```text
//! echod --port 5001 [--conns 10000]
//! ```
//!
//! It listens on 0.0.0.0:PORT, echoes whatever each connection sends,
//! prints `listening` on stdout once bound, and ends when its standard
//! input closes (the test holds the pipe; a test that dies closes it).
//! One thread: non-blocking sockets woken by `poll`.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "TCP echo server for the real-packet tests")]
struct Args {
    /// The port to listen on (all addresses).
    #[arg(long)]
    port: u16,
    /// Connections it must be able to hold at once (raises its
    /// descriptor limit).
    #[arg(long, default_value_t = 10_000)]
    conns: u64,
}

fn main() {
    let args = Args::parse();
    rampart_node::lab::raise_fd_limit(args.conns + 256);
    let listener = match TcpListener::bind(("0.0.0.0", args.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echod: binding port {}: {e}", args.port);
            std::process::exit(1);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let st = Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        // EOF or an error: the test is done with us.
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        st.store(true, Ordering::Relaxed);
    });
    println!("listening");
    if let Err(e) = echo(&listener, &stop) {
        eprintln!("echod: {e}");
        std::process::exit(1);
    }
}

/// Accept and echo on every connection until `stop`.
fn echo(listener: &TcpListener, stop: &AtomicBool) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut conns: Vec<TcpStream> = Vec::new();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let mut fds: Vec<libc::pollfd> = std::iter::once(listener.as_raw_fd())
            .chain(conns.iter().map(|c| c.as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of pollfd for the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 20) };
        if n <= 0 {
            continue;
        }
        if fds[0].revents != 0 {
            while let Ok((s, _)) = listener.accept() {
                s.set_nonblocking(true)?;
                conns.push(s);
            }
        }
        let mut closed = Vec::new();
        for (i, f) in fds[1..].iter().enumerate() {
            if f.revents == 0 {
                continue;
            }
            match conns[i].read(&mut buf) {
                Ok(0) => closed.push(i),
                // Small echoes fit the socket buffer.
                Ok(k) => drop(conns[i].write_all(&buf[..k])),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            conns.swap_remove(i);
        }
    }
    Ok(())
}
