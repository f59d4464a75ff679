package project

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSidecarFastMatchesYAML checks that whenever the hand decoder accepts a sidecar, it reads
// exactly what the YAML library reads, and that it declines what it cannot read exactly.
func TestSidecarFastMatchesYAML(t *testing.T) {
	accepted := []string{
		"description: table 3566 of layer 9\nowner: team2@acme.test\nschedules: [hourly]\ncluster_by: [customer_id]\nretries: 3\n",
		"description: Orders fact\n\nschedules: [hourly, daily]\nreads_previous: [ds.t, p-1.ds.u]\n",
		"disposition: append\npartition_by: DATE(created_at)\n",
		"retry_backoff: m5\ngroup: finance\n",
		"retries: 0",
		"owner: a-b/c+d=e\ncluster_by: [a,b ,  c]\n",
	}
	for _, in := range accepted {
		var fast, slow tableFile
		require.True(t, decodeSidecarFast([]byte(in), &fast), "fast decoder declined %q", in)
		require.NoError(t, decodeStrict([]byte(in), &slow))
		require.Equal(t, slow, fast, "decoders differ on %q", in)
	}
	declined := []string{
		"description: 'quoted'\n",
		"description: yes\n",
		"description: null\n",
		"description:\n",
		"retries: 010\n",
		"retries: -1\n",
		"retry_backoff: 5m\n",
		"schedules: []\n",
		"schedules:\n  - hourly\n",
		"conditions:\n  months: [1]\n",
		"owner: a\nowner: b\n",
		"unknown: x\n",
		"description: a # comment\n",
		"description: a: b\n",
		"description: x\r\n",
		"---\ndescription: x\n",
		"import:\n  connection: shopdb\n",
		"owner: ana\nimport: {connection: shopdb}\n",
		"description: \u00a0nbsp\n", // YAML keeps the no-break space
		"cluster_by: [a, \u00a0b]\n",
	}
	for _, in := range declined {
		var f tableFile
		require.False(t, decodeSidecarFast([]byte(in), &f), "fast decoder accepted %q", in)
		require.Equal(t, tableFile{}, f)
	}
}
