// Package tier owns the object tier: the ObjectStore interface and its
// implementations, the uploader's retries, and the layout of objects.
package tier
