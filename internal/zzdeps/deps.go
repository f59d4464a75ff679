// Package zzdeps holds dependencies that work in progress is about to use, so that go mod tidy
// keeps them. It is removed once they are imported for real.
package zzdeps

import (
	_ "github.com/go-git/go-git/v5"
	_ "github.com/slack-go/slack"
	_ "github.com/slack-go/slack/slacktest"
)
