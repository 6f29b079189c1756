// Package results turns what a guest printed on its console into a result
// that CI systems read: the KTAP/TAP test tree the kernel's KUnit or a
// kselftest run printed, the kernel problems (Oops, BUG, WARNING, panic,
// KASAN, stalls, lockups, hung tasks) each with a signature stable across
// runs and builds, and the VM's outcome; written as JSON, JUnit XML or
// TAP 14.
//
// A Parser sits beside the console's other writers (it is an io.Writer
// that never fails, so an io.MultiWriter keeps going) and keeps bounded
// memory whatever the guest prints. Finish gives the Document; the caller
// adds what only it knows (SetOutcome, SetCommandStatus, AddHang) and
// writes it with Write or WriteFile.
//
//	p := results.NewParser(results.Options{Name: "boot"})
//	console := io.MultiWriter(os.Stdout, p)
//	... run the VM with console ...
//	doc := p.Finish()
//	doc.SetOutcome(results.OutcomePoweroff)
//	err := doc.WriteFile("results.xml", results.JUnit)
//
// docs/results.md describes the formats, the signature rules and the
// limits.
package results
