//! A stream that tells once when its peer's first byte has been read: the
//! admission table spares a connection that has sent nothing only a short
//! grace (docs/ops.md §2, [`super::SILENT_GRACE_MS`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What to do when the first byte has been read.
pub(super) type OnFirst = Box<dyn FnOnce() + Send>;

/// `S`, calling its [`OnFirst`] when a read first yields a byte.
pub(super) struct FirstByte<S> {
    inner: S,
    on_first: Option<OnFirst>,
}

impl<S> FirstByte<S> {
    pub(super) fn new(inner: S, on_first: OnFirst) -> Self {
        FirstByte {
            inner,
            on_first: Some(on_first),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstByte<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before
            && let Some(f) = self.on_first.take()
        {
            f();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstByte<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Told once, on the first byte read; not on an empty read (the
    /// peer's close) before it.
    #[tokio::test]
    async fn the_first_byte_is_told_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let (mut near, far) = tokio::io::duplex(64);
        let mut s = FirstByte::new(
            far,
            Box::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            }),
        );
        near.write_all(b"GE").await.unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        s.read_exact(&mut b).await.unwrap();
        s.write_all(b"x").await.unwrap();
        drop(near);
        assert_eq!(s.read(&mut b).await.unwrap(), 0);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let (_near, far) = tokio::io::duplex(64);
        let c = calls.clone();
        let mut silent = FirstByte::new(
            far,
            Box::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            }),
        );
        drop(_near);
        assert_eq!(silent.read(&mut b).await.unwrap(), 0);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
