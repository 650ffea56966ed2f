package safety

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// checkpointName is the checkpoint's file in the segment folder. It is
// text, a line per item, so that a start parses it in microseconds:
//
//	xfollow-journal-checkpoint 2
//	s SEQ SIZE LINES FIRST LAST          a sealed segment, oldest first
//	b OFF LINE MAX JOBS                  its blocks (JOBS: 1 if it may hold jobs' records)
//	a SEQ SIZE LINES FIRST LAST TAIL     the active segment (TAIL: CRC-32 of its last bytes)
//	b ...
//	k FROM                               slot-holding writes kept from FROM
//	g TOOL GATEWAY KEY                   the writes of one tool, gateway and key (quoted)
//	o TIME | u TIME | p TIME CALL        one each: ok, unknown, no outcome yet
//	end CRC                              CRC-32 of everything before this line
//
// Times are Unix nanoseconds (0: none). A file that does not parse whole,
// or whose CRC does not match, is ignored: the segments it covers are
// indexed again, and the slot-holding writes of the last day read again.
const checkpointName = "checkpoint"

// legacyCheckpoint is the JSON checkpoint of earlier versions: ignored,
// and removed once the new one is written.
const legacyCheckpoint = "checkpoint.json"

const checkpointMagic = "xfollow-journal-checkpoint 2"

// tailBytes is how much of the active segment's end the checkpoint
// fingerprints: a start trusts the checkpoint's index of the active
// segment, and the records it holds, only if those bytes are still there.
const tailBytes = 256

// checkpoint is the journal's index on disk: every segment's meta, so that
// a start reads it and the few records after it instead of the whole
// history, and the slot-holding writes of the last day as of the active
// segment's size in it. It is derived data: when it is missing, damaged or
// behind, what it does not cover is indexed again.
type checkpoint struct {
	Sealed []segMeta
	Active segMeta
	Tail   uint32
	Slots  *slotState // nil: none
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (c *checkpoint) encode() []byte {
	var b []byte
	b = append(b, checkpointMagic...)
	b = append(b, '\n')
	seg := func(kind byte, m *segMeta) {
		b = append(b, kind, ' ')
		b = strconv.AppendInt(b, int64(m.Seq), 10)
		for _, n := range []int64{m.Size, int64(m.Lines), unixNano(m.First), unixNano(m.Last)} {
			b = append(b, ' ')
			b = strconv.AppendInt(b, n, 10)
		}
		if kind == 'a' {
			b = append(b, ' ')
			b = strconv.AppendUint(b, uint64(c.Tail), 10)
		}
		b = append(b, '\n')
		for _, k := range m.Blocks {
			b = append(b, 'b', ' ')
			b = strconv.AppendInt(b, k.Off, 10)
			b = append(b, ' ')
			b = strconv.AppendInt(b, int64(k.Line), 10)
			b = append(b, ' ')
			b = strconv.AppendInt(b, unixNano(k.Max), 10)
			if k.Jobs {
				b = append(b, " 1\n"...)
			} else {
				b = append(b, " 0\n"...)
			}
		}
	}
	for i := range c.Sealed {
		seg('s', &c.Sealed[i])
	}
	seg('a', &c.Active)
	if s := c.Slots; s != nil {
		b = append(b, "k "...)
		b = strconv.AppendInt(b, unixNano(s.from), 10)
		b = append(b, '\n')
		groups := map[*slotKey][]slotEntry{}
		var order []*slotKey
		for _, e := range s.list {
			if e.state == 'x' {
				continue
			}
			if _, ok := groups[e.key]; !ok {
				order = append(order, e.key)
			}
			groups[e.key] = append(groups[e.key], e)
		}
		for _, k := range order {
			b = append(b, "g "...)
			b = strconv.AppendQuote(b, k.tool)
			b = append(b, ' ')
			b = strconv.AppendQuote(b, k.gateway)
			b = append(b, ' ')
			b = strconv.AppendQuote(b, k.fp)
			b = append(b, '\n')
			for _, e := range groups[k] {
				b = append(b, e.state, ' ')
				b = strconv.AppendInt(b, unixNano(e.t), 10)
				if e.state == 'p' {
					b = append(b, ' ')
					b = strconv.AppendQuote(b, e.call)
				}
				b = append(b, '\n')
			}
		}
	}
	sum := crc32.ChecksumIEEE(b)
	b = append(b, "end "...)
	b = strconv.AppendUint(b, uint64(sum), 10)
	return append(b, '\n')
}

var errCheckpoint = errors.New("damaged checkpoint")

// decodeCheckpoint parses what encode wrote; anything else is an error. It
// is written for speed (a start with a long history parses hundreds of
// segment lines and a day of slots): no allocation a line.
func decodeCheckpoint(data []byte) (*checkpoint, error) {
	end := bytes.LastIndex(data, []byte("\nend "))
	if end < 0 || data[len(data)-1] != '\n' {
		return nil, errCheckpoint
	}
	sum, ok := atoi(data[end+5 : len(data)-1])
	if !ok || sum < 0 || crc32.ChecksumIEEE(data[:end+1]) != uint32(sum) {
		return nil, errCheckpoint
	}
	body := data[:end+1]
	nl := bytes.IndexByte(body, '\n')
	if string(body[:nl]) != checkpointMagic {
		return nil, errCheckpoint
	}
	body = body[nl+1:]
	c := &checkpoint{}
	// cur is the segment whose blocks follow: an index into c.Sealed, or
	// -1 for the active segment (pointers would not survive append).
	cur, inSeg := 0, false
	seg := func() *segMeta {
		if cur < 0 {
			return &c.Active
		}
		return &c.Sealed[cur]
	}
	var key *slotKey
	activeSeen := false
	var v [6]int64
	// Every segment's blocks share one array (a start with a long history
	// has hundreds of segments).
	nSealed, nBlocks := 0, 0
	for rest := body; len(rest) > 0; {
		switch rest[0] {
		case 's':
			nSealed++
		case 'b':
			nBlocks++
		}
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			break
		}
		rest = rest[nl+1:]
	}
	c.Sealed = make([]segMeta, 0, nSealed)
	blocks := make([]block, 0, nBlocks)
	from := 0
	endSeg := func() {
		if inSeg {
			seg().Blocks = blocks[from:len(blocks):len(blocks)]
		}
		from = len(blocks)
	}
	for len(body) > 0 {
		nl := bytes.IndexByte(body, '\n')
		line := body[:nl]
		body = body[nl+1:]
		if len(line) < 2 || line[1] != ' ' {
			return nil, errCheckpoint
		}
		kind, rest := line[0], line[2:]
		// nums parses exactly n space-separated integers from rest.
		nums := func(n int) bool {
			for i := 0; i < n; i++ {
				sp := bytes.IndexByte(rest, ' ')
				field := rest
				if sp >= 0 {
					field, rest = rest[:sp], rest[sp+1:]
				} else {
					rest = nil
				}
				if (sp >= 0) != (i < n-1) {
					return false
				}
				var ok bool
				if v[i], ok = atoi(field); !ok {
					return false
				}
			}
			return true
		}
		switch kind {
		case 's', 'a':
			n := 5
			if kind == 'a' {
				n = 6
			}
			if activeSeen || !nums(n) {
				return nil, errCheckpoint
			}
			endSeg()
			m := segMeta{Seq: int(v[0]), Size: v[1], Lines: int(v[2]), First: fromUnixNano(v[3]), Last: fromUnixNano(v[4])}
			inSeg = true
			if kind == 'a' {
				activeSeen = true
				c.Active, cur = m, -1
				c.Tail = uint32(v[5])
			} else {
				c.Sealed = append(c.Sealed, m)
				cur = len(c.Sealed) - 1
			}
		case 'b':
			if !inSeg || !nums(4) {
				return nil, errCheckpoint
			}
			blocks = append(blocks, block{Off: v[0], Line: int(v[1]), Max: fromUnixNano(v[2]), Jobs: v[3] == 1})
		case 'k':
			if !activeSeen || c.Slots != nil || !nums(1) {
				return nil, errCheckpoint
			}
			endSeg()
			inSeg = false
			c.Slots = newSlotState(fromUnixNano(v[0]))
			c.Slots.list = make([]slotEntry, 0, bytes.Count(body, []byte("\n")))
		case 'g':
			if c.Slots == nil {
				return nil, errCheckpoint
			}
			var k slotKey
			r := string(rest)
			for i, dst := range []*string{&k.tool, &k.gateway, &k.fp} {
				q, err := strconv.QuotedPrefix(r)
				if err != nil {
					return nil, errCheckpoint
				}
				if *dst, err = strconv.Unquote(q); err != nil {
					return nil, errCheckpoint
				}
				r = r[len(q):]
				if i < 2 {
					if !strings.HasPrefix(r, " ") {
						return nil, errCheckpoint
					}
					r = r[1:]
				}
			}
			if r != "" {
				return nil, errCheckpoint
			}
			key = c.Slots.intern(k)
		case 'o', 'u', 'p':
			if key == nil {
				return nil, errCheckpoint
			}
			e := slotEntry{key: key, state: kind}
			if kind == 'p' {
				sp := bytes.IndexByte(rest, ' ')
				if sp < 0 {
					return nil, errCheckpoint
				}
				t, ok := atoi(rest[:sp])
				call, err := strconv.Unquote(string(rest[sp+1:]))
				if !ok || err != nil || call == "" {
					return nil, errCheckpoint
				}
				e.t, e.call = fromUnixNano(t), call
				c.Slots.pending[call] = len(c.Slots.list)
			} else {
				if !nums(1) {
					return nil, errCheckpoint
				}
				e.t = fromUnixNano(v[0])
			}
			c.Slots.list = append(c.Slots.list, e)
		default:
			return nil, errCheckpoint
		}
	}
	if !activeSeen {
		return nil, errCheckpoint
	}
	endSeg()
	for i := range c.Sealed {
		if !c.Sealed[i].possible() || c.Sealed[i].Seq >= c.Active.Seq || (i > 0 && c.Sealed[i].Seq <= c.Sealed[i-1].Seq) {
			return nil, errCheckpoint
		}
	}
	if !c.Active.possible() {
		return nil, errCheckpoint
	}
	return c, nil
}

// possible reports whether m is an index add could have built: a positive
// number, no negative size or count, and blocks starting at 0, in order,
// each starting before the end. A checkpoint with any other (its checksum
// right, its numbers not) is not trusted: a start would otherwise read
// from a negative offset or make a buffer of a negative length.
func (m *segMeta) possible() bool {
	if m.Seq <= 0 || m.Size < 0 || m.Lines < 0 || (m.Size == 0) != (len(m.Blocks) == 0) || (m.Size == 0) != (m.Lines == 0) {
		return false
	}
	for i, b := range m.Blocks {
		if b.Off >= m.Size || b.Line < 0 || b.Line >= m.Lines {
			return false
		}
		if i == 0 && (b.Off != 0 || b.Line != 0) {
			return false
		}
		if i > 0 && (b.Off <= m.Blocks[i-1].Off || b.Line <= m.Blocks[i-1].Line) {
			return false
		}
	}
	return true
}

// atoi parses a decimal int64 with an optional minus sign.
func atoi(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<63-1 {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// maxCheckpoint bounds the checkpoint a start reads. The journal's own is
// far smaller (a block line per mebibyte of history, about 45 bytes, and a
// line of about 25 bytes per write of the last day: 16 MiB is some 350 GB
// of history or 600,000 writes a day); a larger file was written by
// something else, and parsing it could take some 15 times its size in
// memory. It is ignored, as a damaged one is.
const maxCheckpoint = 16 << 20

func readCheckpoint(dir string) *checkpoint {
	f, err := openRegular(filepath.Join(dir, checkpointName), os.O_RDONLY, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() > maxCheckpoint {
		return nil
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil
	}
	c, err := decodeCheckpoint(b)
	if err != nil {
		return nil
	}
	return c
}

// tailSum fingerprints the up to tailBytes bytes of f before size.
func tailSum(f io.ReaderAt, size int64) (uint32, error) {
	from := max(size-tailBytes, 0)
	buf := make([]byte, size-from)
	if _, err := f.ReadAt(buf, from); err != nil && !(errors.Is(err, io.EOF) && len(buf) == 0) {
		return 0, err
	}
	return crc32.ChecksumIEEE(buf), nil
}

// maybeCheckpoint writes the checkpoint when it is behind by
// CheckpointEvery bytes, or at all when force. A checkpoint that cannot be
// written is reported once; the journal goes on (the next start indexes
// what the checkpoint missed).
func (j *Journal) maybeCheckpoint(force bool) {
	if j.ckptSize == j.active.Size || (!force && j.ckptSize >= 0 && j.active.Size-j.ckptSize < j.opts.CheckpointEvery) {
		return
	}
	c := checkpoint{Sealed: j.sealed, Active: j.active}
	sum, err := tailSum(j.f, j.active.Size)
	if err == nil {
		c.Tail = sum
		if j.slots != nil {
			j.slots.prune(j.now().Add(-slotKeep))
			c.Slots = j.slots
		}
		err = j.writeAtomic(checkpointName, c.encode())
	}
	if err != nil {
		j.warn("checkpoint", "the journal's checkpoint cannot be written; the next start reads more of the journal", "journal", j.path, "err", causeOf(err))
		return
	}
	j.ckptSize = j.active.Size
	if !j.legacyGone {
		_ = os.Remove(filepath.Join(j.dir, legacyCheckpoint))
		j.legacyGone = true
	}
}

// String shows a checkpoint's numbers, for test failures.
func (c *checkpoint) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "active %d size %d; %d sealed", c.Active.Seq, c.Active.Size, len(c.Sealed))
	if c.Slots != nil {
		fmt.Fprintf(&b, "; %d slots from %s", len(c.Slots.list), c.Slots.from)
	}
	return b.String()
}
