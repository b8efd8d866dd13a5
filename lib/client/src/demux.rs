//! docker's multiplexed stream (`attach`, `logs`, `exec` without a tty): each frame is an
//! 8-byte header (stream: 0 stdin, 1 stdout, 2 stderr; three zero bytes; big-endian u32
//! length) and its payload.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Copies `input`'s frames to `out` (stdout) and `err` (stderr) until the end; a tty stream
/// (`raw`) goes to `out` as it is.
pub async fn copy_output<R: AsyncRead + Unpin>(
    mut input: R,
    raw: bool,
    out: &mut (dyn std::io::Write + Send),
    err: &mut (dyn std::io::Write + Send),
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 32 * 1024];
    if raw {
        loop {
            let n = input.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
    }
    let mut header = [0u8; 8];
    loop {
        match input.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut left = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let sink: &mut (dyn std::io::Write + Send) =
            if header[0] == 2 { &mut *err } else { &mut *out };
        while left > 0 {
            let want = left.min(buf.len());
            input.read_exact(&mut buf[..want]).await?;
            sink.write_all(&buf[..want])?;
            left -= want;
        }
        sink.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_go_to_their_stream() {
        let mut data = vec![1, 0, 0, 0, 0, 0, 0, 3];
        data.extend_from_slice(b"out");
        data.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 4]);
        data.extend_from_slice(b"err\n");
        data.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 1]);
        data.extend_from_slice(b"!");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        copy_output(&data[..], false, &mut out, &mut err)
            .await
            .unwrap();
        assert_eq!(out, b"out!");
        assert_eq!(err, b"err\n");
    }

    #[tokio::test]
    async fn a_cut_frame_is_an_error() {
        let data = [1u8, 0, 0, 0, 0, 0, 0, 9, b'x'];
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(copy_output(&data[..], false, &mut out, &mut err)
            .await
            .is_err());
    }
}
