package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

const costsLong = `Show what tables cost, summed from the warehouse statistics of finished runs under the
pricing the server is configured with (maestro.yaml pricing: for maestro dev, MAESTRO_PRICING
for the api service). Without pricing the USD column says "unknown": costs are never guessed.

--by groups by table, owner, day or run; --since is a date (2026-03-01), an RFC 3339 time or an
age (7d, 36h); it defaults to 30 days.`

func newCostsCmd() *cobra.Command {
	var f apiFlags
	var by, since string
	cmd := &cobra.Command{
		Use:     "costs",
		Short:   "Show what tables cost, by table, owner, day or run",
		Long:    costsLong,
		Example: "  maestro costs --by owner --since 7d",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(&http.Client{Timeout: 2 * time.Minute})
			if err != nil {
				return err
			}
			q := url.Values{"by": {by}}
			if since != "" {
				q.Set("since", since)
			}
			var out struct {
				By      string    `json:"by"`
				Since   time.Time `json:"since"`
				Pricing *struct {
					Model string `json:"model"`
				} `json:"pricing"`
				Rows []struct {
					Key         string   `json:"key"`
					Nodes       int      `json:"nodes"`
					Runs        int      `json:"runs"`
					BytesBilled int64    `json:"bytes_billed"`
					SlotMillis  int64    `json:"slot_ms"`
					USD         *float64 `json:"usd"`
				} `json:"rows"`
				TotalUSD *float64 `json:"total_usd"`
			}
			if err := c.call(cmd.Context(), http.MethodGet, "/costs?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(w, "%s\tRUNS\tNODES\tTIB BILLED\tSLOT HOURS\tUSD\t\n", strings.ToUpper(out.By))
			for _, r := range out.Rows {
				fmt.Fprintf(w, "%s\t%d\t%d\t%.4f\t%.2f\t%s\t\n", r.Key, r.Runs, r.Nodes,
					float64(r.BytesBilled)/(1<<40), float64(r.SlotMillis)/3_600_000, usd(r.USD))
			}
			fmt.Fprintf(w, "TOTAL\t\t\t\t\t%s\t\n", usd(out.TotalUSD))
			if err := w.Flush(); err != nil {
				return err
			}
			pricing := "no pricing configured: costs unknown"
			if out.Pricing != nil {
				pricing = out.Pricing.Model + " pricing"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "since %s, %s\n", out.Since.Format(time.RFC3339), pricing)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&by, "by", "table", "group by table, owner, day or run")
	cmd.Flags().StringVar(&since, "since", "", "a date, an RFC 3339 time or an age such as 7d (default: 30 days)")
	return cmd
}

func usd(v *float64) string {
	if v == nil {
		return "unknown"
	}
	return fmt.Sprintf("%.2f", *v)
}
