package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// flagSet is a flag.FlagSet whose flags fall back to environment variables,
// then to defaults. A malformed variable is an error that names it.
type flagSet struct {
	*flag.FlagSet
	envErrs []error
	// devEnv says whether the dev stack's settings (devenv.go) fill in
	// what the environment leaves unset; fromDevEnv names the flags whose
	// default came from them.
	devEnv     bool
	fromDevEnv map[string]bool
}

func newFlagSet(name string, out io.Writer) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return &flagSet{FlagSet: fs, devEnv: !devEnvSkip[name]}
}

// lookupEnv reads a flag's variable from the environment, then from the
// running dev stack's settings.
func (f *flagSet) lookupEnv(name, env string) (string, bool) {
	if env == "" {
		return "", false
	}
	if v, ok := os.LookupEnv(env); ok {
		return v, true
	}
	if f.devEnv {
		if v, ok := devSetting(env); ok {
			if f.fromDevEnv == nil {
				f.fromDevEnv = map[string]bool{}
			}
			f.fromDevEnv[name] = true
			return v, true
		}
	}
	return "", false
}

// connectionFlags are the flags that say which stack a command talks to:
// they come all from the dev stack's settings, or none.
var connectionFlags = []string{"database-url", "lake", "temporal-address"}

// checkDevEnv refuses a mix of stacks: a connection flag given on the
// command line while another one's value came from the dev stack's
// settings.
func (f *flagSet) checkDevEnv() error {
	var given, filled []string
	f.Visit(func(fl *flag.Flag) {
		if slices.Contains(connectionFlags, fl.Name) {
			given = append(given, "--"+fl.Name)
		}
	})
	for _, name := range connectionFlags {
		if f.fromDevEnv[name] && !slices.Contains(given, "--"+name) {
			filled = append(filled, "--"+name)
		}
	}
	if len(given) > 0 && len(filled) > 0 {
		return fmt.Errorf("%s given, but %s would come from the dev stack's settings (%s): give them all, or none", strings.Join(given, ", "), strings.Join(filled, ", "), devEnv.path)
	}
	return nil
}

func withEnv(usage, env string) string {
	if env == "" {
		return usage
	}
	return usage + " (env " + env + ")"
}

func (f *flagSet) stringVar(p *string, name, env, def, usage string) {
	if v, ok := f.lookupEnv(name, env); ok {
		def = v
	}
	f.StringVar(p, name, def, withEnv(usage, env))
}

func (f *flagSet) intVar(p *int, name, env string, def int, usage string) {
	if v, ok := f.lookupEnv(name, env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.envErrs = append(f.envErrs, fmt.Errorf("%s: want an integer, got %q", env, v))
		} else {
			def = n
		}
	}
	f.IntVar(p, name, def, withEnv(usage, env))
}

func (f *flagSet) boolVar(p *bool, name, env string, def bool, usage string) {
	if v, ok := f.lookupEnv(name, env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.envErrs = append(f.envErrs, fmt.Errorf("%s: want true or false, got %q", env, v))
		} else {
			def = b
		}
	}
	f.BoolVar(p, name, def, withEnv(usage, env))
}

func (f *flagSet) durationVar(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := f.lookupEnv(name, env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.envErrs = append(f.envErrs, fmt.Errorf("%s: want a duration like 500ms, got %q", env, v))
		} else {
			def = d
		}
	}
	f.DurationVar(p, name, def, withEnv(usage, env))
}

// parse parses args; environment errors come first, as they are found
// before any flag is read. Positional arguments are refused unless the
// command takes them.
func (f *flagSet) parse(args []string, positional bool) error {
	if err := f.Parse(args); err != nil {
		return err
	}
	if len(f.envErrs) > 0 {
		return errors.Join(f.envErrs...)
	}
	if err := f.checkDevEnv(); err != nil {
		return err
	}
	if !positional && f.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", f.Name(), f.Arg(0))
	}
	return nil
}

// parseMany parses flags and positional arguments in any order and
// returns the positional ones.
func (f *flagSet) parseMany(args []string) ([]string, error) {
	var pos []string
	for {
		for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			pos, args = append(pos, args[0]), args[1:]
		}
		if err := f.parse(args, true); err != nil {
			return nil, err
		}
		if args = f.Args(); len(args) == 0 {
			return pos, nil
		}
	}
}

// parseOne parses args that hold at most one positional argument, before
// or after the flags, and returns it ("" when absent).
func (f *flagSet) parseOne(args []string) (string, error) {
	var arg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if err := f.parse(args, true); err != nil {
		return "", err
	}
	switch {
	case f.NArg() == 0:
	case f.NArg() == 1 && arg == "":
		arg = f.Arg(0)
	default:
		return "", fmt.Errorf("%s: unexpected argument %q", f.Name(), f.Arg(f.NArg()-1))
	}
	return arg, nil
}
