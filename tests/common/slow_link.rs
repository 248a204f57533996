//! A TCP proxy on loopback that delays every chunk each way: jobs through
//! it take long enough to be caught in flight, and a port of it stands in
//! for a broker or server that comes and goes.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TCP proxy on loopback that delays every chunk by `delay`, each way, so
/// jobs take long enough to be caught in flight.
pub struct SlowLink {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
    /// Each connection's pair of pipes, so [`SlowLink::cut`] can end them.
    links: Links,
}

type Links = std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>;

impl SlowLink {
    pub async fn start(upstream: u16, delay: Duration) -> Self {
        Self::listen_on(0, upstream, delay).await
    }

    /// A link listening on `port` (0: any free one).
    pub async fn listen_on(port: u16, upstream: u16, delay: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let links = Links::default();
        let held = links.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let link = tokio::spawn(async move {
                    let Ok(outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    let (ri, wi) = inbound.into_split();
                    let (ro, wo) = outbound.into_split();
                    tokio::join!(pipe(ri, wo, delay), pipe(ro, wi, delay));
                });
                held.lock().unwrap().push(link);
            }
        });
        SlowLink { port, task, links }
    }

    /// Stop listening and drop every connection through the link, as a
    /// server that goes away does.
    pub fn cut(self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        tokio::time::sleep(delay).await;
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
