// Command jsonproxy lets current AWS SDKs talk to goaws.
//
// The AWS SDKs speak SQS's JSON protocol (POST, X-Amz-Target:
// AmazonSQS.<Action>, a JSON body); goaws v0.4 understands only the older
// query protocol (Action=<Action> form fields, XML replies). jsonproxy
// listens on a loopback address, turns each JSON request into the
// equivalent form request to goaws and each XML reply into the JSON reply
// the SDK expects, for the calls vigil and its tests make: CreateQueue,
// GetQueueUrl, SendMessage, ReceiveMessage, DeleteMessage,
// ChangeMessageVisibility and PurgeQueue. Queue URLs in replies are
// rewritten to point at the proxy.
//
//	jsonproxy -listen 127.0.0.1:4101 -upstream http://127.0.0.1:4100
package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:4101", "loopback address to listen on")
	upstream := flag.String("upstream", "http://127.0.0.1:4100", "goaws base URL")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	p := &proxy{upstream: strings.TrimSuffix(*upstream, "/"), self: "http://" + ln.Addr().String()}
	log.Fatal(http.Serve(ln, p))
}

type proxy struct {
	upstream string // goaws, e.g. http://127.0.0.1:4100
	self     string // the proxy, as clients reach it
}

// xmlMessage is one message of a goaws ReceiveMessage reply.
type xmlMessage struct {
	MessageID     string `xml:"MessageId"`
	ReceiptHandle string `xml:"ReceiptHandle"`
	MD5OfBody     string `xml:"MD5OfBody"`
	Body          string `xml:"Body"`
	Attributes    []struct {
		Name  string `xml:"Name"`
		Value string `xml:"Value"`
	} `xml:"Attribute"`
}

// xmlReply holds the fields of every goaws reply the proxy translates.
type xmlReply struct {
	QueueURL  string       `xml:"CreateQueueResult>QueueUrl"`
	QueueURL2 string       `xml:"GetQueueUrlResult>QueueUrl"`
	MessageID string       `xml:"SendMessageResult>MessageId"`
	MD5       string       `xml:"SendMessageResult>MD5OfMessageBody"`
	Messages  []xmlMessage `xml:"ReceiveMessageResult>Message"`
	Error     struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	action, ok := strings.CutPrefix(target, "AmazonSQS.")
	if !ok {
		jsonError(w, http.StatusBadRequest, "InvalidAction", "jsonproxy: missing X-Amz-Target")
		return
	}
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		jsonError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	form := url.Values{"Action": {action}}
	for k, v := range in {
		switch v := v.(type) {
		case string:
			form.Set(k, p.toUpstream(v))
		case float64:
			form.Set(k, strconv.FormatInt(int64(v), 10))
		case bool:
			form.Set(k, strconv.FormatBool(v))
		case map[string]any: // Attributes: Attribute.N.Name / Attribute.N.Value
			n := 0
			for name, val := range v {
				n++
				form.Set(fmt.Sprintf("Attribute.%d.Name", n), name)
				form.Set(fmt.Sprintf("Attribute.%d.Value", n), fmt.Sprint(val))
			}
		}
	}
	resp, err := http.PostForm(p.upstream+"/", form)
	if err != nil {
		jsonError(w, http.StatusBadGateway, "ServiceUnavailable", err.Error())
		return
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		jsonError(w, http.StatusBadGateway, "ServiceUnavailable", err.Error())
		return
	}
	var x xmlReply
	if err := xml.Unmarshal(raw, &x); err != nil {
		jsonError(w, http.StatusBadGateway, "InternalError", fmt.Sprintf("goaws reply %q: %v", raw, err))
		return
	}
	if resp.StatusCode >= 300 || x.Error.Code != "" {
		code := x.Error.Code
		if code == "" {
			code = "InternalError"
		}
		jsonError(w, http.StatusBadRequest, code, x.Error.Message)
		return
	}
	out := map[string]any{}
	switch action {
	case "CreateQueue":
		out["QueueUrl"] = p.fromUpstream(x.QueueURL)
	case "GetQueueUrl":
		out["QueueUrl"] = p.fromUpstream(x.QueueURL2)
	case "SendMessage":
		out["MessageId"], out["MD5OfMessageBody"] = x.MessageID, x.MD5
	case "ReceiveMessage":
		msgs := []map[string]any{}
		for _, m := range x.Messages {
			attrs := map[string]string{}
			for _, a := range m.Attributes {
				attrs[a.Name] = a.Value
			}
			msgs = append(msgs, map[string]any{"MessageId": m.MessageID, "ReceiptHandle": m.ReceiptHandle,
				"MD5OfBody": m.MD5OfBody, "Body": m.Body, "Attributes": attrs})
		}
		out["Messages"] = msgs
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out) // a failed write is the client's problem
}

// toUpstream points a queue URL given to the proxy at goaws.
func (p *proxy) toUpstream(s string) string {
	if rest, ok := strings.CutPrefix(s, p.self); ok {
		return p.upstream + rest
	}
	return s
}

// fromUpstream points a queue URL of goaws's at the proxy.
func (p *proxy) fromUpstream(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return p.self + u.Path
}

func jsonError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Query-Error", code+";Sender")
	w.WriteHeader(status)
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + code, "message": msg})
	_, _ = w.Write(b.Bytes())
}
