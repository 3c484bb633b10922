//! Splitting a byte stream (a child's stdout, a FIFO) into lines with a fixed
//! buffer: a line longer than the buffer is cut, the rest of it up to the next
//! newline is dropped and counted, so a child that never writes a newline
//! cannot make us allocate.
use heapless::Vec;

/// The longest line delivered; longer ones are cut to this.
pub const MAX_LINE: usize = 1024;

#[derive(Default)]
pub struct LineBuf {
    buf: Vec<u8, MAX_LINE>,
    /// Inside an over-long line: drop bytes until the next newline.
    skipping: bool,
    /// Bytes dropped from over-long lines, in total.
    pub cut: u64,
}

impl LineBuf {
    /// Feeds bytes; calls `out` with each complete line (without its newline).
    pub fn feed(&mut self, mut data: &[u8], out: &mut dyn FnMut(&[u8])) {
        while !data.is_empty() {
            let nl = data.iter().position(|&b| b == b'\n');
            let (chunk, rest, complete) = match nl {
                Some(i) => (&data[..i], &data[i + 1..], true),
                None => (data, &data[data.len()..], false),
            };
            if self.skipping {
                self.cut += chunk.len() as u64;
            } else {
                let room = MAX_LINE - self.buf.len();
                let take = chunk.len().min(room);
                // Cannot fail: `take` fits in the room left.
                let _ = self.buf.extend_from_slice(&chunk[..take]);
                if take < chunk.len() {
                    self.cut += (chunk.len() - take) as u64;
                    out(&self.buf);
                    self.buf.clear();
                    self.skipping = true;
                }
            }
            if complete {
                if !self.skipping {
                    out(&self.buf);
                }
                self.buf.clear();
                self.skipping = false;
            }
            data = rest;
        }
    }

    /// At end of stream: delivers a last line that had no newline.
    pub fn finish(&mut self, out: &mut dyn FnMut(&[u8])) {
        if !self.buf.is_empty() && !self.skipping {
            out(&self.buf);
        }
        self.buf.clear();
        self.skipping = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> (std::vec::Vec<std::vec::Vec<u8>>, u64) {
        let mut lb = LineBuf::default();
        let mut lines = std::vec::Vec::new();
        for c in chunks {
            lb.feed(c, &mut |l| lines.push(l.to_vec()));
        }
        lb.finish(&mut |l| lines.push(l.to_vec()));
        (lines, lb.cut)
    }

    #[test]
    fn lines_across_chunks() {
        let (l, cut) = split(&[b"a\nb", b"c\n\nd"]);
        assert_eq!(
            l,
            vec![b"a".to_vec(), b"bc".to_vec(), b"".to_vec(), b"d".to_vec()]
        );
        assert_eq!(cut, 0);
    }

    #[test]
    fn long_line_is_cut_once_and_the_overflow_counted() {
        let long = vec![b'x'; MAX_LINE + 500];
        let mut input = long.clone();
        input.extend_from_slice(b"\nnext\n");
        // Fed in small pieces, as reads deliver it.
        let pieces: std::vec::Vec<&[u8]> = input.chunks(300).collect();
        let (l, cut) = split(&pieces);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].len(), MAX_LINE);
        assert_eq!(l[1], b"next".to_vec());
        assert_eq!(cut, 500);
    }

    #[test]
    fn exactly_max_line_is_not_cut() {
        let mut input = vec![b'y'; MAX_LINE];
        input.push(b'\n');
        let (l, cut) = split(&[&input]);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].len(), MAX_LINE);
        assert_eq!(cut, 0);
    }

    #[test]
    fn endless_line_without_newline_stays_bounded() {
        let mut lb = LineBuf::default();
        let mut n = 0;
        for _ in 0..100 {
            lb.feed(&[b'z'; 4096], &mut |_| n += 1);
        }
        assert_eq!(n, 1);
        assert_eq!(lb.cut, 100 * 4096 - MAX_LINE as u64);
    }
}
