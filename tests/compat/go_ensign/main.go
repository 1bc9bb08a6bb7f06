// Command go-ensign-compat runs the official Go SDK, go-ensign v0.12.0 unchanged,
// against a pyensign-fast local server and prints one JSON line with what it saw;
// tests/compat/test_go_ensign_compat.py builds it, runs it and checks that line.
//
// Credentials come from ENSIGN_CLIENT_ID and ENSIGN_CLIENT_SECRET, which go-ensign
// reads itself. Known go-ensign v0.12.0 bugs are the SDK's; this program works around
// them:
//
//   - Publisher.Publish registers an event's ack channel after sending the event, so an
//     ack that arrives first is dropped and Event.Acked() blocks forever. The 10,000
//     events are therefore published on the raw PublishStream, counting acks on the
//     stream; the few events sent through Client.Publish are counted by a query.
//   - Client.Close() with a publish stream open panics. The program never calls it;
//     the process exit closes the connection.
//   - The publisher only knows the topics that existed when its stream opened (the
//     StreamReady topic map), so Client.Publish is first called after CreateTopic.
//   - Subscription.Close() only half-closes its stream, then closes its event channel;
//     the server keeps a half-closed subscription open (as the real one does), so the
//     next event it sends panics the SDK with "send on closed channel". The program
//     leaves its subscription open.
//   - auth.Client.Status() POSTs to /v1/status, which Quarterdeck answers with 405; the
//     program does not call it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/oklog/ulid/v2"
	ensign "github.com/rotationalio/go-ensign"
	api "github.com/rotationalio/go-ensign/api/v1beta1"
	"github.com/rotationalio/go-ensign/auth"
	mimetype "github.com/rotationalio/go-ensign/mimetype/v1beta1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const topicName = "go-compat"

var out = map[string]any{}

func check(step string, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", step, err)
		os.Exit(1)
	}
}

func event(i int) *api.Event {
	return &api.Event{
		Data:     []byte(fmt.Sprintf("event %d", i)),
		Metadata: map[string]string{"i": strconv.Itoa(i)},
		Mimetype: mimetype.MIME_TEXT_PLAIN,
		Type:     &api.Type{Name: "Note", MajorVersion: 1, MinorVersion: 2},
		Created:  timestamppb.Now(),
	}
}

// publishRaw sends n events on one publish stream and counts the replies on it.
func publishRaw(ctx context.Context, client *ensign.Client, topicID string, n int) (acks, nacks int) {
	stream, err := client.PublishStream(ctx)
	check("open publish stream", err)
	open := &api.OpenStream{ClientId: "go-compat"}
	check("send OpenStream", stream.Send(&api.PublisherRequest{Embed: &api.PublisherRequest_OpenStream{OpenStream: open}}))
	rep, err := stream.Recv()
	check("receive StreamReady", err)
	if rep.GetReady() == nil || rep.GetReady().Topics[topicName] == nil {
		check("StreamReady", fmt.Errorf("no ready message with the topic: %v", rep))
	}
	tid := ulid.MustParse(topicID)

	done := make(chan error, 1)
	go func() {
		for acks+nacks < n {
			rep, err := stream.Recv()
			if err != nil {
				done <- err
				return
			}
			switch rep.Embed.(type) {
			case *api.PublisherReply_Ack:
				acks++
			case *api.PublisherReply_Nack:
				nacks++
			}
		}
		done <- nil
	}()
	for i := 0; i < n; i++ {
		env := &api.EventWrapper{TopicId: tid.Bytes(), LocalId: ulid.Make().Bytes()}
		check("wrap", env.Wrap(event(i)))
		check("send event", stream.Send(&api.PublisherRequest{Embed: &api.PublisherRequest_Event{Event: env}}))
	}
	check("receive acks", <-done)
	check("close send", stream.CloseSend())
	for {
		if _, err := stream.Recv(); err != nil {
			if !errors.Is(err, io.EOF) {
				check("end of publish stream", err)
			}
			break
		}
	}
	return acks, nacks
}

func count(ctx context.Context, client *ensign.Client, query string) []*ensign.Event {
	cursor, err := client.EnSQL(ctx, &api.Query{Query: query})
	check("query", err)
	rows, err := cursor.FetchAll()
	if errors.Is(err, ensign.ErrNoRows) {
		return nil
	}
	check("fetch", err)
	return rows
}

func main() {
	endpoint := flag.String("endpoint", "", "gRPC host:port")
	authURL := flag.String("auth-url", "", "Quarterdeck URL; empty for no auth")
	n := flag.Int("events", 10000, "events to publish on the raw stream")
	accessTTL := flag.Duration("access-ttl", 0, "wait this long past login, then use the SDK again")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()

	noauth := *authURL == ""
	opts := []ensign.Option{ensign.WithEnsignEndpoint(*endpoint, true), ensign.WithAuthenticator(*authURL, noauth)}
	client, err := ensign.New(opts...) // logs in with client id and secret in auth mode
	check("ensign.New", err)

	state, err := client.Status(ctx)
	check("status", err)
	out["status"], out["version"] = state.Status.String(), state.Version

	if !noauth {
		id, secret := os.Getenv("ENSIGN_CLIENT_ID"), os.Getenv("ENSIGN_CLIENT_SECRET")
		_, err := ensign.New(append(opts, ensign.WithCredentials(id, "wrong-secret"))...)
		out["wrong_secret_error"] = fmt.Sprint(err)
		// The SDK's auth client: log in, then refresh (the refresh token is valid at
		// once when the access token lives less than 15 minutes).
		qd, err := auth.New(*authURL, true)
		check("auth.New", err)
		tokens, err := qd.Authenticate(ctx, &auth.APIKey{ClientID: id, ClientSecret: secret})
		check("authenticate", err)
		valid, err := tokens.RefreshValid()
		check("refresh valid", err)
		fresh, err := qd.Refresh(ctx, tokens)
		check("refresh", err)
		out["refresh_valid"] = valid
		out["refreshed"] = fresh.AccessToken != "" && fresh.AccessToken != tokens.AccessToken
		out["refresh_last_login"] = fresh.LastLogin
	}

	topicID, err := client.CreateTopic(ctx, topicName)
	check("create topic", err)
	exists, err := client.TopicExists(ctx, topicName)
	check("topic exists", err)
	lookedUp, err := client.TopicID(ctx, topicName)
	check("topic id", err)
	topics, err := client.ListTopics(ctx)
	check("list topics", err)
	out["topic_exists"], out["topic_id_matches"], out["topics"] = exists, lookedUp == topicID, len(topics)

	sub, err := client.Subscribe(topicName)
	check("subscribe", err)
	start := time.Now()
	out["acks"], out["nacks"] = publishRaw(ctx, client, topicID, *n)
	out["publish_seconds"] = time.Since(start).Seconds()

	received, mismatched, acked, nacked := 0, 0, 0, 0
	for received < *n {
		select {
		case ev := <-sub.C:
			want := event(received)
			if string(ev.Data) != string(want.Data) || ev.Metadata.Get("i") != want.Metadata["i"] ||
				ev.Mimetype != want.Mimetype || !ev.Type.Equals(want.Type) || ev.TopicID() != topicID {
				mismatched++
			}
			var ok bool
			if received%1000 == 0 {
				ok, err = ev.Nack(api.Nack_UNPROCESSED)
				if ok {
					nacked++
				}
			} else {
				ok, err = ev.Ack()
				if ok {
					acked++
				}
			}
			check("ack/nack", err)
			received++
		case <-ctx.Done():
			check("receive", fmt.Errorf("%d of %d events received: %w", received, *n, ctx.Err()))
		}
	}
	// No sub.Close(): see the bugs above.
	out["received"], out["mismatched"], out["sub_acked"], out["sub_nacked"] = received, mismatched, acked, nacked

	if !noauth && *accessTTL > 0 {
		// Past the access token's expiry the SDK's interceptors refresh it.
		time.Sleep(*accessTTL + time.Second)
		topics, err = client.ListTopics(ctx)
		check("list topics after the access token expired", err)
		out["after_expiry"] = len(topics)
	}

	// The SDK's own publisher (see the bugs above: no per-event ack wait).
	for i := 0; i < 5; i++ {
		e := &ensign.Event{Data: []byte("high level " + strconv.Itoa(i)), Mimetype: mimetype.MIME_TEXT_PLAIN,
			Type: &api.Type{Name: "Note", MajorVersion: 1}}
		check("publish", client.Publish(topicName, e))
	}
	all := count(ctx, client, "SELECT * FROM "+topicName)
	for len(all) < *n+5 && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		all = count(ctx, client, "SELECT * FROM "+topicName)
	}
	out["query_all"] = len(all)
	page := count(ctx, client, "SELECT * FROM "+topicName+" OFFSET 10 LIMIT 5")
	first := ""
	if len(page) > 0 {
		first = string(page[0].Data)
	}
	out["query_page"], out["query_page_first"] = len(page), first

	info, err := client.Info(ctx)
	check("info", err)
	out["info_events"], out["info_topics"] = info.Events, info.NumTopics

	line, err := json.Marshal(out)
	check("json", err)
	fmt.Println(string(line))
	// No client.Close(): it panics with the publisher open (see above).
	os.Exit(0)
}
