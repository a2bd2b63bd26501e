//! The peer wire format after the handshake: `[u32 BE length][u8 version][postcard Wire]`,
//! where the length counts the version byte and the payload. A length of 0 is a keep-alive (no
//! body): the sending side writes one when it has had nothing to send for a while, so the
//! receiving side can close connections that stay silent.

use tokio::io::{AsyncRead, AsyncReadExt};

use super::Wire;

/// The only frame version this node speaks: the major protocol version of the handshake (5: as
/// 4, with snapshot chunks and their acknowledgements; 4: as 3, with minors in the handshake; 3: a handshake first, keep-alives; 2: engine messages —
/// Raft's and forwarded writes — with sender and recipient; 1 carried Raft messages only).
pub const FRAME_VERSION: u8 = super::handshake::PROTOCOL_VERSION.major;
/// A keep-alive frame: a zero length and nothing else.
pub const KEEP_ALIVE: [u8; 4] = [0; 4];
/// Largest accepted frame (length field), so a garbage length cannot make us allocate gigabytes.
pub const MAX_FRAME_LEN: u32 = 64 << 20;

/// Why a connection's byte stream cannot be read as frames; the connection is then dropped.
#[derive(Debug)]
pub enum FrameError {
    /// The socket failed or closed mid-frame.
    Io(std::io::Error),
    /// The length field is over [`MAX_FRAME_LEN`].
    BadLength(u32),
    /// The version byte is not [`FRAME_VERSION`].
    BadVersion(u8),
    /// The payload is not a postcard `Wire` (or has trailing bytes).
    Decode(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "io: {e}"),
            Self::BadLength(n) => write!(f, "frame length {n} over {MAX_FRAME_LEN}"),
            Self::BadVersion(v) => write!(f, "unsupported frame version {v}"),
            Self::Decode(e) => write!(f, "undecodable message: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Appends the frame of `message` to `out`.
pub fn encode(message: &Wire, out: &mut Vec<u8>) {
    // Plain owned data: postcard cannot fail to serialize it.
    let payload = postcard::to_allocvec(message).unwrap_or_default();
    let len = u32::try_from(payload.len() + 1).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.push(FRAME_VERSION);
    out.extend_from_slice(&payload);
}

/// Decodes one frame's body (version byte and payload).
pub fn decode_body(body: &[u8]) -> Result<Wire, FrameError> {
    let (&version, payload) = body.split_first().ok_or(FrameError::BadLength(0))?;
    if version != FRAME_VERSION {
        return Err(FrameError::BadVersion(version));
    }
    match postcard::take_from_bytes::<Wire>(payload) {
        Ok((message, [])) => Ok(message),
        Ok((_, rest)) => Err(FrameError::Decode(format!("{} trailing bytes", rest.len()))),
        Err(e) => Err(FrameError::Decode(e.to_string())),
    }
}

/// Reads the next frame's length: `Ok(None)` on a clean end of stream between frames,
/// `Ok(Some(0))` for a keep-alive.
pub async fn read_len<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Option<u32>, FrameError> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(FrameError::Io(e)),
    }
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME_LEN {
        return Err(FrameError::BadLength(len));
    }
    Ok(Some(len))
}

/// Reads and decodes the body of a frame whose length field said `len` (non-zero).
pub async fn read_body<R: AsyncRead + Unpin>(reader: &mut R, len: u32) -> Result<Wire, FrameError> {
    let mut body = vec![0u8; len as usize];
    reader.read_exact(&mut body).await.map_err(FrameError::Io)?;
    decode_body(&body)
}

/// Reads the next frame, skipping keep-alives; `Ok(None)` on a clean end of stream between
/// frames.
pub async fn read<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Option<Wire>, FrameError> {
    loop {
        match read_len(reader).await? {
            None => return Ok(None),
            Some(0) => continue,
            Some(len) => return read_body(reader, len).await.map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftorch_core::engine::PeerMessage;
    use raftorch_core::raft::{Message, MessageBody};

    fn message() -> Wire {
        Wire::raft(Message {
            from: 1,
            to: 2,
            term: 3,
            body: MessageBody::Heartbeat { commit: 4, seq: 5 },
        })
    }

    #[tokio::test]
    async fn forwards_round_trip() {
        let forward = Wire {
            from: 2,
            to: 1,
            message: PeerMessage::Forward {
                request: 7,
                data: vec![1, 2, 3],
                traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            },
        };
        let mut bytes = Vec::new();
        encode(&forward, &mut bytes);
        assert_eq!(read(&mut &bytes[..]).await.unwrap(), Some(forward));
    }

    #[tokio::test]
    async fn frames_round_trip_back_to_back_with_keep_alives_between() {
        let mut bytes = Vec::new();
        encode(&message(), &mut bytes);
        bytes.extend_from_slice(&KEEP_ALIVE);
        encode(&message(), &mut bytes);
        let mut r = &bytes[..];
        assert_eq!(read(&mut r).await.unwrap(), Some(message()));
        assert_eq!(read(&mut r).await.unwrap(), Some(message()));
        assert_eq!(read(&mut r).await.unwrap(), None);
    }

    #[tokio::test]
    async fn bad_frames_are_errors() {
        let mut r = &[0xff, 0xff, 0xff, 0xff, 1][..];
        assert!(matches!(read(&mut r).await, Err(FrameError::BadLength(_))));
        let mut bytes = Vec::new();
        encode(&message(), &mut bytes);
        bytes[4] = 9;
        assert!(matches!(
            read(&mut &bytes[..]).await,
            Err(FrameError::BadVersion(9))
        ));
        let mut r = &[0, 0, 0, 3, FRAME_VERSION, 0xff, 0xff][..];
        assert!(matches!(read(&mut r).await, Err(FrameError::Decode(_))));
        let mut torn = Vec::new();
        encode(&message(), &mut torn);
        torn.pop();
        assert!(matches!(read(&mut &torn[..]).await, Err(FrameError::Io(_))));
    }
}
