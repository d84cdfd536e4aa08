//! Netlink framing, sans-IO: the 16-byte `nlmsghdr` around each request we
//! send, and the walk over a received datagram's messages. The client
//! frames itself (instead of going through neli's router) so that it can
//! put hundreds of requests in one `sendmsg` and route the answers by
//! sequence number.

/// `struct nlmsghdr`: length, type, flags, sequence number, port id.
pub const NLMSG_HDRLEN: usize = 16;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_ROOT | NLM_F_MATCH`.
pub const NLM_F_DUMP: u16 = 0x300;

pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;

/// Netlink messages start on 4-byte boundaries.
pub const fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// Appends one request: header (port id 0, the kernel) then `payload`,
/// padded to the next 4-byte boundary.
pub fn put_request(buf: &mut Vec<u8>, family: u16, flags: u16, seq: u32, payload: &[u8]) {
    let len = NLMSG_HDRLEN + payload.len();
    // Payloads are a genl header plus attributes, far below 4 GiB.
    let len32 = u32::try_from(len).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len32.to_ne_bytes());
    buf.extend_from_slice(&family.to_ne_bytes());
    buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(buf.len() + (align(len) - len), 0);
}

/// One message of a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// An answer of the family: a genl header and attributes.
    Data(&'a [u8]),
    /// `NLMSG_ERROR`: 0 is an ack, otherwise a negative errno.
    Error(i32),
    /// `NLMSG_DONE`: the end of a dump (a negative errno if it failed).
    Done(i32),
    /// `NLMSG_NOOP`, `NLMSG_OVERRUN` or another type we don't expect.
    Other(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub seq: u32,
    pub flags: u16,
    pub reply: Reply<'a>,
}

/// A datagram that doesn't hold whole netlink messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed netlink datagram at byte {offset}: {what}")]
pub struct FrameError {
    pub offset: usize,
    pub what: &'static str,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// The messages of one datagram, in order. A malformed message ends the
/// walk with an error (nothing after it can be framed).
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages {
        buf: datagram,
        offset: 0,
    }
}

pub struct Messages<'a> {
    buf: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.offset..)?;
        if rest.is_empty() {
            return None;
        }
        let offset = self.offset;
        let fail = |what| Some(Err(FrameError { offset, what }));
        let (Some(len), Some(kind), Some(flags), Some(seq)) = (
            u32_at(rest, 0),
            u16_at(rest, 4),
            u16_at(rest, 6),
            u32_at(rest, 8),
        ) else {
            self.offset = self.buf.len();
            return fail("short header");
        };
        let len = len as usize;
        let Some(body) = rest.get(NLMSG_HDRLEN..len).filter(|_| len >= NLMSG_HDRLEN) else {
            self.offset = self.buf.len();
            return fail("length field out of bounds");
        };
        self.offset += align(len).min(rest.len());
        let code = || u32_at(body, 0).map(|c| c as i32);
        let reply = match kind {
            NLMSG_ERROR => match code() {
                Some(c) => Reply::Error(c),
                None => return fail("short NLMSG_ERROR"),
            },
            NLMSG_DONE => Reply::Done(code().unwrap_or(0)),
            NLMSG_NOOP | NLMSG_OVERRUN => Reply::Other(kind),
            k if k < 16 => Reply::Other(k),
            _ => Reply::Data(body),
        };
        Some(Ok(Message { seq, flags, reply }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_framing() {
        let mut buf = Vec::new();
        put_request(&mut buf, 0x20, NLM_F_ACK, 7, &[1, 1, 0, 0, 0xaa]);
        assert_eq!(
            buf,
            [
                21, 0, 0, 0, 0x20, 0, 5, 0, 7, 0, 0, 0, 0, 0, 0, 0, // header
                1, 1, 0, 0, 0xaa, 0, 0, 0 // payload + padding
            ]
        );
        put_request(&mut buf, 0x20, NLM_F_DUMP, 8, &[4, 1, 0, 0]);
        assert_eq!(buf.len(), 24 + 20);
        assert_eq!(&buf[24 + 6..24 + 8], &0x301u16.to_ne_bytes());
    }

    fn msg(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(&NLM_F_MULTI.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&1234u32.to_ne_bytes());
        v.extend_from_slice(body);
        v.resize(align(v.len()), 0);
        v
    }

    #[test]
    fn datagram_walk() {
        let mut d = msg(0x20, 1, &[8, 1, 0, 0, 9]);
        d.extend(msg(NLMSG_DONE, 1, &0i32.to_ne_bytes()));
        let mut err = (-17i32).to_ne_bytes().to_vec();
        err.extend_from_slice(&[0; 16]);
        d.extend(msg(NLMSG_ERROR, 5, &err));
        d.extend(msg(NLMSG_ERROR, 6, &[0; 20]));
        let got: Vec<_> = messages(&d).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got.iter().map(|m| (m.seq, m.reply)).collect::<Vec<_>>(),
            [
                (1, Reply::Data(&[8, 1, 0, 0, 9][..])),
                (1, Reply::Done(0)),
                (5, Reply::Error(-17)),
                (6, Reply::Error(0)),
            ]
        );
    }

    #[test]
    fn malformed_datagrams_end_the_walk() {
        let mut d = msg(0x20, 1, &[4, 1, 0, 0]);
        d.extend_from_slice(&[200, 0, 0, 0, 0x20, 0]);
        let got: Vec<_> = messages(&d).collect();
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok());
        assert_eq!(
            got[1],
            Err(FrameError {
                offset: 20,
                what: "short header"
            })
        );
        let mut d = msg(0x20, 1, &[4, 1, 0, 0]);
        d[0] = 200; // longer than the datagram
        assert!(messages(&d).next().unwrap().is_err());
        d[0] = 3; // shorter than a header
        assert!(messages(&d).next().unwrap().is_err());
        assert_eq!(messages(&d).count(), 1, "no endless loop");
    }
}
