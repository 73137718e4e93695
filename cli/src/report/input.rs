//! Access-log input: files or stdin, plain or gzip (told apart by the gzip magic bytes, not by
//! the file name, since rotated logs are named every way), read one line at a time into one
//! reused buffer so that a log of any size is read in bounded memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;

use flate2::read::MultiGzDecoder;

/// Lines longer than this are not access-log lines of ours: counted as unparseable and skipped
/// without being held.
pub const MAX_LINE: usize = 1 << 20;
const BUFFER: usize = 256 * 1024;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Where lines come from: a file, or stdin (`-`, or no file at all).
#[derive(Clone, Debug)]
pub enum Source {
    Stdin,
    File(PathBuf),
}

impl Source {
    pub fn from_args(files: &[PathBuf]) -> Vec<Source> {
        if files.is_empty() {
            return vec![Source::Stdin];
        }
        files
            .iter()
            .map(|f| {
                if f.as_os_str() == "-" {
                    Source::Stdin
                } else {
                    Source::File(f.clone())
                }
            })
            .collect()
    }

    pub fn name(&self) -> String {
        match self {
            Source::Stdin => "stdin".into(),
            Source::File(p) => p.display().to_string(),
        }
    }

    /// Opens the source, decompressing it when it starts with the gzip magic bytes.
    pub fn open(&self) -> io::Result<Box<dyn BufRead>> {
        let raw: Box<dyn Read> = match self {
            Source::Stdin => Box::new(io::stdin().lock()),
            Source::File(p) => Box::new(File::open(p)?),
        };
        sniff(raw)
    }
}

/// Checks that every named file can be opened before any is read, so that a mistyped name
/// fails at once instead of after an hour of reading the others.
pub fn check_readable(sources: &[Source]) -> Result<(), String> {
    for s in sources {
        if let Source::File(p) = s {
            File::open(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        }
    }
    Ok(())
}

/// Reads the first two bytes to tell gzip from plain text, then hands back a reader that still
/// yields them.
fn sniff(mut raw: Box<dyn Read>) -> io::Result<Box<dyn BufRead>> {
    let mut head = [0u8; 2];
    let mut n = 0;
    while n < head.len() {
        match raw.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let whole = io::Cursor::new(head[..n].to_vec()).chain(raw);
    if head[..n] == GZIP_MAGIC {
        // Multi-member: `cat a.gz b.gz` and logrotate's appends are one stream of members.
        Ok(Box::new(BufReader::with_capacity(
            BUFFER,
            MultiGzDecoder::new(whole),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(BUFFER, whole)))
    }
}

/// One line read by [`read_line`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The line is in the buffer, without its line ending.
    Whole,
    /// Longer than [`MAX_LINE`]: skipped, the buffer is empty.
    TooLong,
}

/// Reads the next line into `buf` (cleared first); `None` at the end of the input. Adds the
/// bytes consumed to `consumed`.
pub fn read_line(
    r: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    consumed: &mut u64,
) -> io::Result<Option<Line>> {
    buf.clear();
    let mut fits = true;
    let mut any = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(any.then(|| finish(buf, fits)));
        }
        any = true;
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if fits {
            if buf.len() + take > MAX_LINE + 2 {
                fits = false;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take);
        *consumed += take as u64;
        if done {
            return Ok(Some(finish(buf, fits)));
        }
    }
}

fn finish(buf: &mut Vec<u8>, fits: bool) -> Line {
    if !fits {
        return Line::TooLong;
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Line::Whole
}

/// A progress line on stderr every `every` bytes of input: overwritten in place on a terminal,
/// one line each otherwise (a CI log keeps them all).
pub struct Progress {
    every: u64,
    next: u64,
    shown: bool,
    terminal: bool,
    quiet: bool,
}

impl Progress {
    pub fn new(every: u64, quiet: bool) -> Progress {
        use std::io::IsTerminal;
        let every = every.max(1);
        Progress {
            every,
            next: every,
            shown: false,
            terminal: io::stderr().is_terminal(),
            quiet,
        }
    }

    /// Called after each line; prints when the input has passed the next mark.
    pub fn tick(&mut self, bytes: u64, lines: u64, unparseable: u64) {
        if self.quiet || bytes < self.next {
            return;
        }
        self.next = (bytes / self.every + 1) * self.every;
        self.shown = true;
        let text = format!(
            "tokengate report: {} MiB, {} lines read, {} unparseable",
            bytes >> 20,
            group(lines),
            group(unparseable)
        );
        let mut err = io::stderr().lock();
        let _ = if self.terminal {
            write!(err, "\r{text}")
        } else {
            writeln!(err, "{text}")
        };
    }

    /// Ends an overwritten line so that what follows starts on its own.
    pub fn done(&self) {
        if self.shown && self.terminal && !self.quiet {
            let _ = writeln!(io::stderr());
        }
    }
}

/// 1234567 → "1,234,567": counts people read at a glance.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn lines(input: &[u8]) -> Vec<(Line, Vec<u8>)> {
        let mut r = sniff(Box::new(io::Cursor::new(input.to_vec()))).unwrap();
        let (mut buf, mut n, mut out) = (Vec::new(), 0u64, Vec::new());
        while let Some(l) = read_line(&mut *r, &mut buf, &mut n).unwrap() {
            out.push((l, buf.clone()));
        }
        out
    }

    #[test]
    fn plain_lines_with_any_ending() {
        let got = lines(b"a\nbb\r\n\nccc");
        let texts: Vec<_> = got.iter().map(|(_, b)| b.as_slice()).collect();
        assert_eq!(texts, [&b"a"[..], b"bb", b"", b"ccc"]);
    }

    #[test]
    fn gzip_is_read_by_its_magic_bytes_and_members_concatenate() {
        use flate2::write::GzEncoder;
        let gz = |s: &[u8]| {
            let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(s).unwrap();
            e.finish().unwrap()
        };
        let mut both = gz(b"one\ntwo\n");
        both.extend(gz(b"three\n"));
        let texts: Vec<_> = lines(&both).into_iter().map(|(_, b)| b).collect();
        assert_eq!(texts, [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
    }

    #[test]
    fn a_one_byte_input_is_plain() {
        assert_eq!(lines(b"x"), [(Line::Whole, b"x".to_vec())]);
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn an_overlong_line_is_skipped_and_the_next_one_read() {
        let mut input = vec![b'x'; MAX_LINE + 10];
        input.extend_from_slice(b"\nnext\n");
        let got = lines(&input);
        assert_eq!(got[0], (Line::TooLong, Vec::new()));
        assert_eq!(got[1], (Line::Whole, b"next".to_vec()));
    }

    #[test]
    fn groups_of_three() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }
}
