//! gzip for event subscriptions, compressed once per batch for every subscriber.
//!
//! A thousand subscribers of a busy stream receive the same bytes; compressing each
//! connection on its own would cost a thousand compressors. Instead each batch is
//! deflated once by a fresh compressor and ended with a sync flush: such a piece
//! refers to nothing before it and ends on a byte boundary, so pieces splice into any
//! deflate stream between two pieces. Each subscriber's response is a gzip header,
//! the pieces it is sent, and (when the server ends the stream) a final block with the
//! CRC of everything, combined from the pieces' CRCs without reading the data again.

use axum::body::Bytes;
use axum::http::HeaderMap;
use flate2::{Compress, Compression, Crc, FlushCompress};

/// A gzip member header: deflate, no name or time, unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// An empty final block with fixed Huffman codes: ends the deflate data.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// Deflate data for one run of bytes, spliceable into any stream (see the module).
#[derive(Debug)]
pub(crate) struct DeflatePiece {
    bytes: Bytes,
    crc: Crc,
}

impl DeflatePiece {
    pub(crate) fn of(plain: &[u8]) -> Self {
        // Level 1: these pieces are JSON events, much alike; the fast setting already
        // takes most of what there is, at a fraction of the default's time.
        let mut compressor = Compress::new(Compression::fast(), false);
        let mut out = Vec::with_capacity(plain.len() / 4 + 64);
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            compressor
                .compress_vec(&plain[consumed..], &mut out, FlushCompress::Sync)
                .expect("deflating into memory cannot fail");
            consumed = compressor.total_in() as usize;
            // Done once all input is taken and the flush did not fill the buffer.
            if consumed == plain.len() && out.len() < out.capacity() {
                break;
            }
        }
        let mut crc = Crc::new();
        crc.update(plain);
        DeflatePiece {
            bytes: Bytes::from(out),
            crc,
        }
    }
}

/// One subscriber's gzip response in the making.
#[derive(Debug)]
pub(crate) struct GzipBody {
    crc: Crc,
}

impl GzipBody {
    /// Start a body; the returned bytes go first.
    pub(crate) fn start() -> (Self, Bytes) {
        (GzipBody { crc: Crc::new() }, Bytes::from_static(&HEADER))
    }

    /// The bytes that send `piece`.
    pub(crate) fn piece(&mut self, piece: &DeflatePiece) -> Bytes {
        self.crc.combine(&piece.crc);
        piece.bytes.clone()
    }

    /// The bytes that end the body.
    pub(crate) fn finish(self) -> Bytes {
        let mut end = Vec::with_capacity(10);
        end.extend_from_slice(&FINAL_BLOCK);
        end.extend_from_slice(&self.crc.sum().to_le_bytes());
        end.extend_from_slice(&self.crc.amount().to_le_bytes());
        Bytes::from(end)
    }
}

/// Whether the request accepts gzip (`Accept-Encoding`, honouring `q=0`).
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("a valid gzip stream");
        out
    }

    #[test]
    fn pieces_made_apart_splice_into_one_valid_gzip_stream() {
        let shared = DeflatePiece::of(b"id: 1\nevent: QUEUED\ndata: {\"seq\":1}\n\n");
        let own = DeflatePiece::of(&b"id: 2\nevent: QUEUED\ndata: {\"seq\":2}\n\n".repeat(300));
        let (mut body, head) = GzipBody::start();
        let mut stream = head.to_vec();
        stream.extend_from_slice(&body.piece(&own));
        stream.extend_from_slice(&body.piece(&shared));
        stream.extend_from_slice(&body.piece(&shared));
        stream.extend_from_slice(&body.finish());
        let mut expected = b"id: 2\nevent: QUEUED\ndata: {\"seq\":2}\n\n".repeat(300);
        expected.extend_from_slice(&b"id: 1\nevent: QUEUED\ndata: {\"seq\":1}\n\n".repeat(2));
        // GzDecoder checks the CRC and length in the trailer.
        assert_eq!(gunzip(&stream), expected);
        assert!(own.bytes.len() < 200, "repetitive input compresses");
    }

    #[test]
    fn a_body_cut_between_pieces_decodes_up_to_the_cut() {
        // A subscriber reads what arrived so far: each piece ends with a sync flush.
        let (mut body, head) = GzipBody::start();
        let mut stream = head.to_vec();
        stream.extend_from_slice(&body.piece(&DeflatePiece::of(b"first\n")));
        let mut decoder = flate2::Decompress::new(false);
        let mut out = Vec::with_capacity(64);
        decoder
            .decompress_vec(
                &stream[HEADER.len()..],
                &mut out,
                flate2::FlushDecompress::Sync,
            )
            .unwrap();
        assert_eq!(out, b"first\n");
    }

    #[test]
    fn large_input_is_taken_whole() {
        let plain: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let (mut body, head) = GzipBody::start();
        let mut stream = head.to_vec();
        stream.extend_from_slice(&body.piece(&DeflatePiece::of(&plain)));
        stream.extend_from_slice(&body.finish());
        assert_eq!(gunzip(&stream), plain);
    }

    #[test]
    fn accept_encoding_is_read_like_http_says() {
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(axum::http::header::ACCEPT_ENCODING, value.parse().unwrap());
            accepts_gzip(&h)
        };
        assert!(with("gzip"));
        assert!(with("br, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("gzip;q=0"));
        assert!(!with("br, deflate"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
