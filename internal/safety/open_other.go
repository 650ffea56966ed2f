//go:build !unix

package safety

const openNonBlock = 0
