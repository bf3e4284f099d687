const amqp = require('amqplib/callback_api');
amqp.connect('amqp://localhost', (error0, connection) => {
if (error0) throw error0;
connection.createChannel((error1, channel) => {
if (error1) throw error1;
const queue = 'user_events';
channel.assertQueue(queue, { durable: false });
console.log(" [*] Waiting for messages in %s. To exit press CTRL+C", queue);
channel.consume(queue, (msg) => {
if (msg !== null) {
const event = JSON.parse(msg.content.toString());
console.log(" [x] Received %s", event.type);
// Handle the event (e.g., send a welcome email)
channel.ack(msg);
}
});
});
});
