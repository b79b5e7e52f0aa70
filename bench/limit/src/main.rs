//! The machine's own limit for a DNS server on loopback: a responder that
//! does nothing but send each request back with the QR bit set, batched
//! with `recvmmsg`/`sendmmsg` (32 at a time, as eightfold's workers), on
//! one thread. `bench/run.sh` pins it like the servers and measures it
//! like them, so every server's queries per CPU-second can be read as a
//! fraction of what the kernel's socket path allows.
//!
//! Usage: `echo-limit 127.0.0.1:PORT`.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

const BATCH: usize = 32;
const MAX: usize = 1232;

fn main() {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("usage: echo-limit ADDRESS:PORT");
            std::process::exit(2)
        });
    let socket = UdpSocket::bind(addr).expect("bind");
    let fd = socket.as_raw_fd();
    // The receive buffer eightfold gives its socket (dns::listen): 8 MiB,
    // past rmem_max when root, so neither drops a burst the other keeps.
    let size: libc::c_int = 8 << 20;
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: an int option on a socket this process owns.
        let set = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
        if set == 0 {
            break;
        }
    }
    println!("ready {}", socket.local_addr().expect("bound"));
    let mut bufs = vec![[0u8; MAX]; BATCH];
    // SAFETY: plain C structs, zeroed, then pointed at buffers that live
    // as long as the loop.
    let mut names: Vec<libc::sockaddr_storage> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut iovs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: MAX,
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect();
    loop {
        for i in 0..BATCH {
            iovs[i].iov_len = MAX;
            let h = &mut msgs[i].msg_hdr;
            h.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
        }
        // SAFETY: every header points at live buffers of the stated sizes.
        let n = unsafe {
            libc::recvmmsg(fd, msgs.as_mut_ptr(), BATCH as u32, libc::MSG_WAITFORONE, std::ptr::null_mut())
        };
        if n <= 0 {
            continue;
        }
        let n = n as usize;
        for i in 0..n {
            let len = msgs[i].msg_len as usize;
            if len > 2 {
                bufs[i][2] |= 0x80;
            }
            iovs[i].iov_len = len;
        }
        let mut sent = 0;
        while sent < n {
            // SAFETY: as above; the first `n` headers hold received packets.
            let r = unsafe {
                libc::sendmmsg(fd, msgs[sent..].as_mut_ptr(), (n - sent) as u32, 0)
            };
            if r <= 0 {
                break;
            }
            sent += r as usize;
        }
    }
}
