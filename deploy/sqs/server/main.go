// Command server runs goaws (github.com/Admiral-Piett/goaws v0.4.4, an
// SQS/SNS emulator) for vigil's integration tests, on a loopback address
// only, and lets current AWS SDKs talk to it.
//
// goaws's own command listens on all interfaces and understands only the
// query protocol (Action=… form fields, XML replies), while the AWS SDKs
// speak SQS's JSON protocol (X-Amz-Target: AmazonSQS.<Action>, JSON
// bodies). This command serves goaws's handler on the given address and
// translates the JSON calls vigil and its tests make: CreateQueue,
// GetQueueUrl, SendMessage, ReceiveMessage, DeleteMessage,
// ChangeMessageVisibility and PurgeQueue.
//
//	server -listen 127.0.0.1:14101 -config goaws.yaml
//
// It is its own module so that goaws and its dependencies stay out of
// vigil's go.mod. deploy/sqs/start.sh builds and starts it.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/Admiral-Piett/goaws/app/conf"
	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/router"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:14101", "loopback address to listen on")
	config := flag.String("config", "goaws.yaml", "goaws configuration (its Local environment is used)")
	flag.Parse()
	conf.LoadYamlConfig(*config, "Local")
	go gosqs.PeriodicTasks(time.Second, make(chan struct{}))
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.Serve(ln, &translator{next: router.New()}))
}
