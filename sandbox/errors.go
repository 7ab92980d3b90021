package sandbox

import (
	"errors"
	"strconv"
)

// ErrInvalid is matched (with errors.Is) by every *Error that reports an
// input nsfork rejects because it is wrong, as opposed to one it cannot
// honour, which matches errors.ErrUnsupported instead.
var ErrInvalid = errors.New("invalid sandbox options")

// Error reports a field of Options (or of an OCI config, for FromSpec) that
// is wrong or that nsfork cannot honour.
type Error struct {
	// Field names the offending field in JSON path form, such as
	// "uidMappings[1]" or "process.apparmorProfile".
	Field string
	// Value is the offending value when one short string says it, else "".
	Value string
	// Reason says what is wrong, in words.
	Reason string
	// Err is the underlying cause, if any: errors.ErrUnsupported for what
	// Linux or nsfork cannot do, an *fs.PathError for a path that cannot be
	// inspected, ...
	Err error
}

// Error formats e as "sandbox: FIELD [VALUE]: REASON[: ERR]".
func (e *Error) Error() string {
	s := "sandbox: " + e.Field
	if e.Value != "" {
		s += " " + strconv.Quote(e.Value)
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause and, unless the cause is errors.ErrUnsupported,
// ErrInvalid, so that errors.Is(err, ErrInvalid) tells a bad input from an
// unsupported one.
func (e *Error) Unwrap() []error {
	switch {
	case e.Err == nil:
		return []error{ErrInvalid}
	case errors.Is(e.Err, errors.ErrUnsupported):
		return []error{e.Err}
	default:
		return []error{e.Err, ErrInvalid}
	}
}

// errList collects the errors Validate finds.
type errList []error

func (l *errList) add(field, value, reason string) {
	*l = append(*l, &Error{Field: field, Value: value, Reason: reason})
}

func (l *errList) addErr(field, value, reason string, err error) {
	*l = append(*l, &Error{Field: field, Value: value, Reason: reason, Err: err})
}

func (l *errList) unsupported(field, value, reason string) {
	l.addErr(field, value, reason, errors.ErrUnsupported)
}

// err returns nil, the only error, or all of them joined.
func (l errList) err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	default:
		return errors.Join(l...)
	}
}
