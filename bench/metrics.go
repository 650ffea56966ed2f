package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// --- metrics on against off ---

// metricsOverhead times tools/call unfollow_x_user on three servers of ours
// against the same gateway process, interleaved: one with --metrics scraped
// every 100 ms throughout (far more often than a Prometheus scrape
// interval), one with --metrics never scraped (the instruments alone), and
// two without: the second is the control, whose ratio to the first is what
// two identical processes differ by in this run.
func metricsOverhead(ours string, n int) ([]result, error) {
	gwURL, stopGW, err := startGateway(0)
	if err != nil {
		return nil, err
	}
	defer stopGW()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	on, err := startServer(ours, append([]string{"--metrics", addr}, ourArgs...), gwURL)
	if err != nil {
		return nil, err
	}
	defer on.close()
	idle, err := startServer(ours, append([]string{"--metrics", "127.0.0.1:0"}, ourArgs...), gwURL)
	if err != nil {
		return nil, err
	}
	defer idle.close()
	off, err := startServer(ours, ourArgs, gwURL)
	if err != nil {
		return nil, err
	}
	defer off.close()
	control, err := startServer(ours, ourArgs, gwURL)
	if err != nil {
		return nil, err
	}
	defer control.close()

	hc := &http.Client{Timeout: 5 * time.Second}
	scrape := func() (int, error) {
		res, err := hc.Get("http://" + addr + "/metrics")
		if err != nil {
			return 0, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.Contains(string(b), "xfollow_writes_total") {
			return 0, fmt.Errorf("scrape: %d %v", res.StatusCode, err)
		}
		return len(b), err
	}
	if _, err := scrape(); err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var scrapes, scrapeErrs int
	var scrapeTimes []time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				start := time.Now()
				if _, err := scrape(); err != nil {
					scrapeErrs++
					continue
				}
				scrapes++
				scrapeTimes = append(scrapeTimes, time.Since(start))
			}
		}
	}()
	args := map[string]any{"target_user_id": "2244994945"}
	samples, err := interleave([]func() error{
		func() error { return on.call("unfollow_x_user", args) },
		func() error { return idle.call("unfollow_x_user", args) },
		func() error { return off.call("unfollow_x_user", args) },
		func() error { return control.call("unfollow_x_user", args) },
	}, 200, n)
	close(stop)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if scrapeErrs > 0 {
		return nil, fmt.Errorf("%d scrapes failed", scrapeErrs)
	}
	ratioOf := func(j int) func(lo, hi int) float64 {
		return func(lo, hi int) float64 {
			return float64(median(samples[j][lo:hi])) / float64(median(samples[2][lo:hi]))
		}
	}
	cRatio := ratioOf(3)(0, n)
	clo, chi := spread(10, n, ratioOf(3))
	note := fmt.Sprintf("median of %d sequential calls each, the four servers interleaved in random order; the gateway in its own process; "+
		"control: a second server without --metrics against the first, %.2fx (10 blocks: %.2fx to %.2fx)", n, cRatio, clo, chi)
	idleRatio := ratioOf(1)(0, n)
	ilo, ihi := spread(10, n, ratioOf(1))
	scrapedRatio := ratioOf(0)(0, n)
	slo, shi := spread(10, n, ratioOf(0))
	return []result{{
		name: "metrics: tools/call unfollow_x_user with --metrics (not scraped) against without",
		figure: fmt.Sprintf("%s vs %s = **%.2fx** (ratio in 10 blocks of the run: %.2fx to %.2fx)",
			us(median(samples[1])), us(median(samples[2])), idleRatio, ilo, ihi),
		target: "within what two identical servers differ by in the same run (the control's highest block)",
		pass:   idleRatio <= max(chi, 1.02),
		note:   note,
	}, {
		name: "metrics: the same with --metrics scraped every 100 ms (a Prometheus scrapes every 15 to 60 s)",
		figure: fmt.Sprintf("%s vs %s = **%.2fx** (10 blocks: %.2fx to %.2fx); %d scrapes, median %s",
			us(median(samples[0])), us(median(samples[2])), scrapedRatio, slo, shi, scrapes, ms(median(scrapeTimes))),
		target: "<= 1.05x without --metrics",
		pass:   scrapedRatio <= max(chi, 1.05),
		note:   note,
	}}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
