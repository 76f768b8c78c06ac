// Package naming turns a project's names into the names of the tables,
// schemas and registry entries that hold its data, so two projects with a
// source, view or model of the same name never touch each other.
//
// Inside the platform a source, view or model travels as a qualified name,
// "<project>.<name>" (churn_demo.labels). Its tables live in a namespace
// per project and layer, "<project>_<layer>" (churn_demo_raw.labels in the
// lake, churn_demo_predictions.churn in both the lake and PostgreSQL):
// two-level names that Spark, Trino, DuckDB, Snowflake and PostgreSQL all
// read without nested-namespace support. A bare name (no project) maps to
// the layout of the first release, "<layer>.<name>", which `sluice
// migrate` moves into a project.
package naming

import (
	"strings"
)

// The layers of a project's data. Each is a lake namespace (and, for
// predictions and online, a PostgreSQL schema) per project.
const (
	Raw         = "raw"
	Quarantine  = "quarantine"
	Features    = "features"
	Training    = "training"
	Predictions = "predictions"
	// Online is the PostgreSQL schema of the online store. Its bare form
	// is sluice_online, the first release's schema.
	Online = "online"
)

// Layers lists the lake layers, in the order data flows through them.
var Layers = []string{Raw, Quarantine, Features, Training, Predictions}

// Reserved is the one project name no spec may take: its online schema,
// sluice_online, is the bare layout's.
const Reserved = "sluice"

// MaxProject is the longest project name: its longest namespace,
// <project>_predictions, must fit PostgreSQL's 63-byte identifiers.
const MaxProject = 40

// Qualify joins a project and a name: Qualify("churn_demo", "churn") is
// "churn_demo.churn". An empty project leaves the name bare.
func Qualify(project, name string) string {
	if project == "" {
		return name
	}
	return project + "." + name
}

// Split parts a qualified name into its project and name; a bare name has
// no project.
func Split(qualified string) (project, name string) {
	if i := strings.IndexByte(qualified, '.'); i >= 0 {
		return qualified[:i], qualified[i+1:]
	}
	return "", qualified
}

// Base is the name without its project: what feature columns and
// messages meant for the project's own people use.
func Base(qualified string) string {
	_, name := Split(qualified)
	return name
}

// Project is the project of a qualified name, "" for a bare one.
func Project(qualified string) string {
	p, _ := Split(qualified)
	return p
}

// Namespace is the namespace (lake) or schema (PostgreSQL) of a
// project's layer: churn_demo_raw; the bare layer for no project.
func Namespace(project, layer string) string {
	if project == "" {
		if layer == Online {
			return "sluice_online"
		}
		return layer
	}
	return project + "_" + layer
}

// Table is the "namespace.table" name of a qualified source, view or
// model in a layer: Table(Raw, "churn_demo.labels") is
// "churn_demo_raw.labels"; Table(Raw, "labels") is "raw.labels".
func Table(layer, qualified string) string {
	p, name := Split(qualified)
	return Namespace(p, layer) + "." + name
}

// Ident is Table as its two parts, for pgx.Identifier.
func Ident(layer, qualified string) []string {
	p, name := Split(qualified)
	return []string{Namespace(p, layer), name}
}
