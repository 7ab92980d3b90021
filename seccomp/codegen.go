package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// label names a place in the program being generated.
type label int

// op is one instruction with symbolic jump targets.
type op struct {
	ins    bpf.Instruction // a non-jump instruction; nil for jumps and labels
	isJump bool
	cond   bpf.JumpTest // for conditional jumps
	val    uint32
	jt, jf label // jf unused for an unconditional jump (cond == 0xff)
	place  label // >= 0 for a label marker
}

const always = bpf.JumpTest(0xff)

type codegen struct {
	ops    []op
	labels int
}

func (c *codegen) newLabel() label { c.labels++; return label(c.labels - 1) }

func (c *codegen) emit(i bpf.Instruction) { c.ops = append(c.ops, op{ins: i, place: -1}) }
func (c *codegen) place(l label)          { c.ops = append(c.ops, op{place: l}) }
func (c *codegen) load(off uint32)        { c.emit(bpf.LoadAbsolute{Off: off, Size: 4}) }
func (c *codegen) ret(v uint32)           { c.emit(bpf.RetConstant{Val: v}) }

// archDispatch loads seccomp_data.arch and jumps to a new label per audit
// value in audits, returned in the same order; an arch matching none falls
// through to what is placed next.
func (c *codegen) archDispatch(audits []uint32) []label {
	c.load(offArch)
	labels := make([]label, len(audits))
	for i, au := range audits {
		labels[i] = c.newLabel()
		next := c.newLabel()
		c.jump(bpf.JumpEqual, au, labels[i], next)
		c.place(next)
	}
	return labels
}

func (c *codegen) jump(t bpf.JumpTest, v uint32, jt, jf label) {
	c.ops = append(c.ops, op{isJump: true, cond: t, val: v, jt: jt, jf: jf, place: -1})
}
func (c *codegen) goTo(l label) {
	c.ops = append(c.ops, op{isJump: true, cond: always, jt: l, place: -1})
}

// tree emits a binary search over the segments, which cover every number.
func (c *codegen) tree(ss []segment) {
	if len(ss) == 1 {
		c.outcome(ss[0].out)
		return
	}
	mid := len(ss) / 2
	right, left := c.newLabel(), c.newLabel()
	c.jump(bpf.JumpGreaterOrEqual, ss[mid].lo, right, left)
	c.place(left)
	c.tree(ss[:mid])
	c.place(right)
	c.tree(ss[mid:])
}

func (c *codegen) outcome(o outcome) {
	for _, r := range o.rules {
		fail := c.newLabel()
		for _, cd := range r.conds {
			c.cond(cd, fail, o.bits32)
		}
		c.ret(r.action)
		c.place(fail)
	}
	c.ret(o.ret)
}

func argOff(i uint, hi bool) uint32 {
	off := offArgs + 8*uint32(i)
	if hi {
		off += 4 // all supported ABIs are little-endian
	}
	return off
}

// cond emits code that falls through when cd holds and jumps to fail when not.
func (c *codegen) cond(cd cond, fail label, bits32 bool) {
	vl, vh := uint32(cd.value), uint32(cd.value>>32)
	ml, mh := uint32(cd.value), uint32(cd.value>>32)
	if cd.op == specs.OpMaskedEqual {
		vl, vh = uint32(cd.two), uint32(cd.two>>32)
	}
	ok := c.newLabel()
	defer c.place(ok)
	lo, hi := argOff(cd.index, false), argOff(cd.index, true)
	next := func() label { l := c.newLabel(); return l }
	// jmp emits a conditional jump whose false (or true) branch is the next
	// instruction.
	j := func(t bpf.JumpTest, v uint32, jt, jf label) {
		c.jump(t, v, jt, jf)
	}
	switch cd.op {
	case specs.OpEqualTo:
		if !bits32 {
			c.load(hi)
			n := next()
			j(bpf.JumpEqual, vh, n, fail)
			c.place(n)
		}
		c.load(lo)
		j(bpf.JumpEqual, vl, ok, fail)
	case specs.OpNotEqual:
		if !bits32 {
			c.load(hi)
			n := next()
			j(bpf.JumpEqual, vh, n, ok)
			c.place(n)
		}
		c.load(lo)
		j(bpf.JumpEqual, vl, fail, ok)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		t := bpf.JumpGreaterThan
		if cd.op == specs.OpGreaterEqual {
			t = bpf.JumpGreaterOrEqual
		}
		if !bits32 {
			c.load(hi)
			n1, n2 := next(), next()
			j(bpf.JumpGreaterThan, vh, ok, n1)
			c.place(n1)
			j(bpf.JumpEqual, vh, n2, fail)
			c.place(n2)
		}
		c.load(lo)
		j(t, vl, ok, fail)
	case specs.OpLessThan, specs.OpLessEqual:
		t := bpf.JumpGreaterOrEqual
		if cd.op == specs.OpLessEqual {
			t = bpf.JumpGreaterThan
		}
		if !bits32 {
			c.load(hi)
			n1, n2 := next(), next()
			j(bpf.JumpGreaterThan, vh, fail, n1)
			c.place(n1)
			j(bpf.JumpEqual, vh, n2, ok)
			c.place(n2)
		}
		c.load(lo)
		j(t, vl, fail, ok)
	case specs.OpMaskedEqual:
		half := func(off, m, v uint32, last bool) {
			if m == 0 {
				if v != 0 {
					c.goTo(fail)
				}
				return
			}
			c.load(off)
			if m != 0xffffffff {
				c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: m})
			}
			n := ok
			if !last {
				n = next()
			}
			j(bpf.JumpEqual, v, n, fail)
			if !last {
				c.place(n)
			}
		}
		if !bits32 {
			half(hi, mh, vh, false)
		}
		half(lo, ml, vl, true)
	default:
		panic("seccomp: unchecked operator " + string(cd.op))
	}
}

// assemble lays the program out, inserting unconditional jumps where a
// conditional one cannot reach its target in 8 bits, and resolves labels.
func (c *codegen) assemble() ([]bpf.Instruction, error) {
	type far struct {
		at int // index into ops of the conditional jump
		jt bool
	}
	for round := 0; ; round++ {
		if round > 64 {
			return nil, &CompileError{Err: fmt.Errorf("jump layout did not converge")}
		}
		pos := make([]int, c.labels)
		n := 0
		for _, o := range c.ops {
			if o.ins == nil && !o.isJump {
				pos[o.place] = n
				continue
			}
			n++
		}
		if n > 2*MaxInstructions {
			return nil, &CompileError{Field: "syscalls", Err: fmt.Errorf("%d instructions: %w", n, ErrTooLong)}
		}
		var fars []far
		n = 0
		for i, o := range c.ops {
			if o.ins == nil && !o.isJump {
				continue
			}
			if o.isJump && o.cond != always {
				if pos[o.jt]-n-1 > 255 {
					fars = append(fars, far{i, true})
				}
				if pos[o.jf]-n-1 > 255 {
					fars = append(fars, far{i, false})
				}
			}
			n++
		}
		if len(fars) == 0 {
			prog := make([]bpf.Instruction, 0, n)
			for _, o := range c.ops {
				switch {
				case o.ins != nil:
					prog = append(prog, o.ins)
				case !o.isJump:
				case o.cond == always:
					prog = append(prog, bpf.Jump{Skip: uint32(pos[o.jt] - len(prog) - 1)})
				default:
					prog = append(prog, bpf.JumpIf{Cond: o.cond, Val: o.val,
						SkipTrue: uint8(pos[o.jt] - len(prog) - 1), SkipFalse: uint8(pos[o.jf] - len(prog) - 1)})
				}
			}
			return prog, nil
		}
		// Insert trampolines right after each far jump, last first so the
		// indexes stay valid.
		for k := len(fars) - 1; k >= 0; k-- {
			f := fars[k]
			l := c.newLabel()
			o := &c.ops[f.at]
			var target label
			if f.jt {
				target, o.jt = o.jt, l
			} else {
				target, o.jf = o.jf, l
			}
			tramp := []op{{place: l}, {isJump: true, cond: always, jt: target, place: -1}}
			c.ops = append(c.ops[:f.at+1], append(tramp, c.ops[f.at+1:]...)...)
		}
	}
}
