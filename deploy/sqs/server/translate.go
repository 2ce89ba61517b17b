package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
)

// translator serves SQS's JSON protocol in front of goaws's query-protocol
// handler: each JSON request becomes the equivalent form request, each XML
// reply the JSON reply the SDK expects. Requests without X-Amz-Target go
// to goaws unchanged.
type translator struct {
	next http.Handler // goaws
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

// ServeHTTP translates one JSON-protocol call, or passes a query-protocol
// one through.
func (p *translator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if target == "" {
		p.next.ServeHTTP(w, r)
		return
	}
	action, ok := strings.CutPrefix(target, "AmazonSQS.")
	if !ok {
		jsonError(w, http.StatusBadRequest, "InvalidAction", "unknown X-Amz-Target "+target)
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
			form.Set(k, v)
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
	req := httptest.NewRequestWithContext(r.Context(), http.MethodPost, "/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	p.next.ServeHTTP(rec, req)
	raw := rec.Body.Bytes()
	var x xmlReply
	if err := xml.Unmarshal(raw, &x); err != nil {
		jsonError(w, http.StatusBadGateway, "InternalError", fmt.Sprintf("goaws reply %q: %v", raw, err))
		return
	}
	if rec.Code >= 300 || x.Error.Code != "" {
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
		out["QueueUrl"] = queueURL(r, x.QueueURL)
	case "GetQueueUrl":
		out["QueueUrl"] = queueURL(r, x.QueueURL2)
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

// queueURL points a goaws queue URL (http://REGION.HOST:PORT/ACCOUNT/NAME)
// at the address the client used.
func queueURL(r *http.Request, goaws string) string {
	u, err := url.Parse(goaws)
	if err != nil {
		return goaws
	}
	return "http://" + r.Host + u.Path
}

func jsonError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Query-Error", code+";Sender")
	w.WriteHeader(status)
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + code, "message": msg})
	_, _ = w.Write(b.Bytes())
}
