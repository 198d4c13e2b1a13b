// Package backend will hold the agent that runs beside a mail backend,
// keeps the backend's mailbox list registered in the cluster, reports
// names claimed by two backends instead of flip-flopping, and carries out
// moves between backends.
package backend
