package results

import (
	"regexp"
	"sync"
)

// lazyRE is a regular expression compiled on its first use. The console
// parser has a few dozen; compiled at package init they cost every gokvm
// start 1.7 ms natively (GODEBUG=inittrace=1: 70% of all package init),
// tens of ms in an emulated host, though most runs read no console.
type lazyRE struct {
	expr string
	once sync.Once
	re   *regexp.Regexp
}

// lazyRegexp is regexp.MustCompile on first use: expr is a constant of
// this package, and TestLazyRegexpsCompile compiles every one.
func lazyRegexp(expr string) *lazyRE {
	l := &lazyRE{expr: expr}
	allLazy = append(allLazy, l)
	return l
}

// allLazy is every lazyRE, for the test.
var allLazy []*lazyRE

func (l *lazyRE) get() *regexp.Regexp {
	l.once.Do(func() { l.re = regexp.MustCompile(l.expr) })
	return l.re
}

func (l *lazyRE) FindStringSubmatch(s string) []string { return l.get().FindStringSubmatch(s) }
func (l *lazyRE) MatchString(s string) bool            { return l.get().MatchString(s) }
func (l *lazyRE) ReplaceAllString(src, repl string) string {
	return l.get().ReplaceAllString(src, repl)
}
func (l *lazyRE) ReplaceAllStringFunc(src string, repl func(string) string) string {
	return l.get().ReplaceAllStringFunc(src, repl)
}
