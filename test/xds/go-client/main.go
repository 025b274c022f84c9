// A proxyless gRPC client built on grpc-go's xDS support, for konsul-lb's tests: an independent
// second client next to grpc-js-xds. It reads its bootstrap from GRPC_XDS_BOOTSTRAP_CONFIG,
// dials -target (xds:///<service>.<namespace>), makes -warmup uncounted calls, then -calls calls
// of -method, -concurrency at a time, each with the session key -key (header x-session-key) when given, and prints one JSON
// object: how many calls each backend answered, or {"error": "..."}.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	_ "google.golang.org/grpc/xds" // registers the xds:/// resolver and the xDS LB policies
)

// rawCodec carries the request and the reply as plain bytes: the test backends answer with
// their name, no protobuf involved.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func fail(err error) {
	out, _ := json.Marshal(map[string]string{"error": err.Error()})
	fmt.Println(string(out))
	os.Exit(1)
}

func main() {
	target := flag.String("target", "", "xds:///<service>.<namespace>")
	method := flag.String("method", "/konsul.test.Who/Name", "full method name")
	calls := flag.Int("calls", 100, "number of calls")
	concurrency := flag.Int("concurrency", 1, "calls in flight at a time")
	key := flag.String("key", "", "session key (x-session-key header); none when empty")
	timeout := flag.Duration("timeout", 20*time.Second, "deadline of the whole run")
	warmup := flag.Int("warmup", 0, "uncounted calls of /konsul.test.Who/Name first, so that every connection is up")
	flag.Parse()

	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if *key != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "x-session-key", *key)
	}

	// A fresh client picks only among the connections already up: without a warm-up, the first
	// calls of a split pile onto whichever backend answered the handshake first.
	for i := 0; i < *warmup; i++ {
		request := []byte{}
		var reply []byte
		if err := conn.Invoke(ctx, "/konsul.test.Who/Name", &request, &reply, grpc.ForceCodec(rawCodec{}), grpc.WaitForReady(true)); err != nil {
			fail(err)
		}
	}

	var mu sync.Mutex
	counts := map[string]int{}
	var firstErr error
	next := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				request := []byte{}
				var reply []byte
				err := conn.Invoke(ctx, *method, &request, &reply, grpc.ForceCodec(rawCodec{}), grpc.WaitForReady(true))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				} else if err == nil {
					counts[string(reply)]++
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < *calls; i++ {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		fail(firstErr)
	}
	out, _ := json.Marshal(counts)
	fmt.Println(string(out))
}
